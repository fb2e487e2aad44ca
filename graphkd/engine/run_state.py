"""One run's parts, built in order by the trainer (request, processes, data, models,
optimisers, logs), and where it stands as its epochs go by."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from graphkd.engine.config import Config
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.optimizers import RunOptimizers
from graphkd.engine.run_data import RunData
from graphkd.engine.run_models import RunModels
from graphkd.engine.run_records import RunLogs
from graphkd.engine.run_request import RunRequest


@dataclass
class Run:
    """The parts of one training run and where it stands: ``start_epoch`` and
    ``best``/``test_acc`` after a resume, whether its records (``config.yaml``, the logs)
    have been started, the epochs ``last.pt`` holds."""

    config: Config
    request: RunRequest
    context: DistributedContext
    data: RunData
    models: RunModels
    optimizers: RunOptimizers
    logs: RunLogs
    start_epoch: int = 0
    best: float = -math.inf
    test_acc: float = math.nan
    records_started: bool = False
    saved_epochs: Optional[int] = None
    loss_scale_noted: bool = False

    @property
    def output(self) -> Path:
        """The run folder."""
        return self.request.output

    @property
    def total_epochs(self) -> int:
        """Epochs of every stage together."""
        return self.models.stage_epochs + self.config.optim.epochs
