"""TensorBoard scalars of a run (``run.tensorboard``), written beside ``metrics.csv``.

Every logged number of an epoch becomes a scalar at that epoch: the student's under its
column name (``test_acc``, ``train_loss``, ``lr``, ...), a distiller-only stage's under
``<stage>/<column>``. Event files go to ``<run>/tensorboard``; view them with
``tensorboard --logdir <run.output>``. Needs the ``tensorboard`` package
(``pip install 'graphkd[log]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

INSTALL_HINT = "pip install 'graphkd[log]' (or pip install tensorboard)"


def check_tensorboard() -> None:
    """Raise a ``ValueError`` with the install command when tensorboard is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ValueError(
            f"run.tensorboard=true needs the tensorboard package; {INSTALL_HINT}, or set "
            "run.tensorboard=false"
        ) from None


class TensorBoardLog:
    """Scalars of each epoch's row, in ``<run>/tensorboard`` (opened on the first row).

    Parameters
    ----------
    run : pathlib.Path
        The run directory.
    """

    def __init__(self, run: Path) -> None:
        self.folder = run / "tensorboard"
        self._writer: Optional[Any] = None

    def add_row(self, row: Mapping[str, Any], prefix: str = "") -> None:
        """Write every number of ``row`` at step ``row["epoch"]``."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.folder))
        step = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self._writer.add_scalar(f"{prefix}{key}", float(value), step)
        self._writer.flush()

    def close(self) -> None:
        """Close the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
