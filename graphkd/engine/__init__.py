"""Training engine: configs, teacher training, distillation, checkpoints and logs.

Example
-------
>>> from graphkd.engine import load_config, shipped_configs
>>> "fashion_mnist" in shipped_configs()
True
>>> load_config("fashion_mnist").data.dataset
'fashion_mnist'
"""

from graphkd.engine.checkpoint import (
    read_training_checkpoint,
    rng_state,
    save_training_checkpoint,
    set_rng_state,
)
from graphkd.engine.config import (
    Config,
    DataConfig,
    MethodConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    apply_overrides,
    config_from_dict,
    config_target,
    config_to_dict,
    load_config,
    save_config,
    shipped_configs,
)
from graphkd.engine.distributed import DistributedContext, end_process_group, setup_distributed
from graphkd.engine.metrics_log import MetricsLog
from graphkd.engine.quickstart import QuickstartResult, quickstart
from graphkd.engine.seed import seed_everything
from graphkd.engine.trainer import CROSS_ENTROPY, RunInterrupted, RunResult, Trainer, evaluate

__all__ = [
    "CROSS_ENTROPY",
    "Config",
    "DataConfig",
    "DistributedContext",
    "MethodConfig",
    "MetricsLog",
    "ModelConfig",
    "OptimConfig",
    "QuickstartResult",
    "RunConfig",
    "RunInterrupted",
    "RunResult",
    "Trainer",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "end_process_group",
    "evaluate",
    "load_config",
    "quickstart",
    "read_training_checkpoint",
    "rng_state",
    "save_config",
    "save_training_checkpoint",
    "seed_everything",
    "set_rng_state",
    "setup_distributed",
    "shipped_configs",
    "config_target",
]
