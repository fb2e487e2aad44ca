"""What a run hands back: :class:`RunResult` when it finishes, :class:`RunInterrupted`
(what its folder keeps) when Ctrl-C stops it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from graphkd.engine.checkpoint import LAST


@dataclass
class RunResult:
    """What a finished training run produced.

    Parameters
    ----------
    output : pathlib.Path
        The run directory.
    test_acc : float
        Top-1 test accuracy (%) after the last epoch.
    best_acc : float
        Best top-1 test accuracy (%) over the epochs.
    epochs : int
        Epochs trained in total.
    seconds : float
        Wall time of this call.
    """

    output: Path
    test_acc: float
    best_acc: float
    epochs: int
    seconds: float

    @property
    def model_path(self) -> Path:
        """The final weights, ``{"format": "graphkd", "model": state_dict, ...}``."""
        return self.output / "model.pt"

    @property
    def checkpoint(self) -> Path:
        """The last training checkpoint."""
        return self.output / LAST

    @property
    def metrics(self) -> Path:
        """The per-epoch CSV log."""
        return self.output / "metrics.csv"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run's epochs, saying what the run folder keeps.

    Attributes
    ----------
    output : Path
        The run folder.
    saved_epochs : int or None
        Epochs that ``output/last.pt`` holds, ``None`` when no epoch finished since the
        run began (a resumed run's checkpoint is then unchanged).
    start_epoch : int
        Epochs the run had resumed after (0 for a fresh start).
    total_epochs : int
        Epochs of the whole run.
    """

    def __init__(
        self, output: Path, saved_epochs: Optional[int], start_epoch: int, total_epochs: int
    ) -> None:
        super().__init__(output, saved_epochs, start_epoch, total_epochs)
        self.output, self.saved_epochs = output, saved_epochs
        self.start_epoch, self.total_epochs = start_epoch, total_epochs

    def __str__(self) -> str:
        if self.saved_epochs is not None:
            last = self.output / "last.pt"
            return f"{last} holds epoch {self.saved_epochs} of {self.total_epochs}"
        if self.start_epoch > 0:
            return (
                f"no epoch finished after the resume from epoch {self.start_epoch}; the "
                "checkpoint resumed from is unchanged"
            )
        return f"the first epoch had not finished, so nothing was saved in {self.output}"
