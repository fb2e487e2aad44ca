"""What the caller asks of one run: which network to train into which folder, with or
without teachers, and how to treat an earlier run there; for a distillation, the method
and teacher the config resolves to."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

from graphkd.distill import check_method_options
from graphkd.distill.ensemble import ENSEMBLE_MODES
from graphkd.engine.config import Config, MethodConfig
from graphkd.engine.global_batch import GRAPH_BATCHES
from graphkd.engine.run_checks import CROSS_ENTROPY, check_method
from graphkd.models import has_pretrained_weights


@dataclass
class RunRequest:
    """Train ``arch`` (named by config key ``arch_key``) into ``output``, with or without
    teachers, and how to treat an earlier run there."""

    arch: str
    arch_key: str
    output: Path
    with_teacher: bool
    resume: Union[bool, str] = False
    overwrite: bool = False
    allow_method_change: bool = False


def method_folder(method: str) -> str:
    """The run directory name of ``method``: itself, or ``factory`` for ``module:factory``."""
    return method.rsplit(":", 1)[-1]


def teacher_request(
    config: Config, resume: Union[bool, str], overwrite: bool
) -> Tuple[Config, RunRequest]:
    """``config.model.teacher`` trained with cross-entropy into ``<run.output>/teacher``."""
    config = dataclasses.replace(config, method=MethodConfig(CROSS_ENTROPY, {}))
    output = Path(config.run.output) / "teacher"
    request = RunRequest(config.model.teacher, "model.teacher", output, False, resume, overwrite)
    return config, request


def distill_request(
    config: Config,
    method: Optional[str],
    resume: Union[bool, str],
    overwrite: bool,
    allow_method_change: bool,
    log: Callable[[str], None],
) -> Tuple[Config, RunRequest]:
    """``config`` with ``method`` (its options dropped, with a note through ``log``) and
    the teacher it resolves to, checked, and the student's run into
    ``<run.output>/<method folder>``."""
    if method is not None and method != config.method.name:
        if config.method.options:
            log(
                f"method.options {config.method.options} belong to the config's method "
                f"{config.method.name!r} and are not used for {method!r}"
            )
        switched = dataclasses.replace(config.method, name=method, options={})
        config = dataclasses.replace(config, method=switched)
    _check_method_config(config.method)
    with_teacher = config.method.name != CROSS_ENTROPY
    if with_teacher:
        config = _with_own_teacher(config)
    output = Path(config.run.output) / method_folder(config.method.name)
    request = RunRequest(
        config.model.student,
        "model.student",
        output,
        with_teacher,
        resume,
        overwrite,
        allow_method_change,
    )
    return config, request


def _check_method_config(method: MethodConfig) -> None:
    """The method's name, options, graph batch and ensemble mode are valid."""
    check_method(method.name)
    if method.name != CROSS_ENTROPY:
        check_method_options(method.name, method.options)
    for key, value, valid in (
        ("method.graph_batch", method.graph_batch, GRAPH_BATCHES),
        ("method.ensemble", method.ensemble, ENSEMBLE_MODES),
    ):
        if value not in valid:
            raise ValueError(f"{key} must be one of {', '.join(valid)}, got {value!r}")


def _with_own_teacher(config: Config) -> Config:
    """``config`` with the teacher that ``train_teacher`` left in ``<run.output>/teacher``
    when it names no teacher weights (and no ensemble, nor pretrained weights)."""
    model = config.model
    if model.teachers or model.teacher_checkpoint or has_pretrained_weights(model.teacher):
        return config
    own_teacher = Path(config.run.output) / "teacher" / "model.pt"
    if not own_teacher.is_file():
        raise ValueError(
            f"method {config.method.name!r} needs a trained teacher, and there is none "
            f"at {own_teacher}; train one with `graphkd train-teacher` (same config) "
            "or set model.teacher_checkpoint=<path to its model.pt>"
        )
    model = dataclasses.replace(config.model, teacher_checkpoint=str(own_teacher))
    return dataclasses.replace(config, model=model)
