"""What a run checks before it builds anything or touches a file.

:func:`check_run` refuses, each with a one-line message naming the problem and the fix
(config keys as ``key=value``, the command's form in parentheses): an unknown model or
method, a method option the method does not take or of the wrong type, a batch that
cannot be split over the processes or is too small for a method that relates the
samples of a batch, ``run.tensorboard`` without tensorboard, a run directory that
already holds a run (without ``resume`` or ``overwrite``), a checkpoint to resume that
belongs to another model, dataset or method, a network's input-resize options
(``input_size``, ``input_interpolation`` in ``model.network_options``) that are not
valid, a ``timm`` augmentation without timm, and a network that does not name its
``input_size`` in a run whose ``data.image_size`` resizes a fixed-size dataset.
:func:`check_teacher_checkpoint` refuses a teacher's weights saved for another
architecture or dataset (or built with other constructor options; the input size may
differ, since it does not change the weights).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
import yaml

from graphkd.data import DATASETS
from graphkd.data.timm_augmentation import check_timm_augmentation
from graphkd.distill import METHODS, check_method_options, import_method, list_methods
from graphkd.engine.checkpoint import LAST, read_training_checkpoint, saved_options
from graphkd.engine.config import Config, DataConfig
from graphkd.engine.run_folder import check_run_folder
from graphkd.engine.tensorboard_log import check_tensorboard
from graphkd.models import INPUT_OPTIONS, parse_network
from graphkd.models.resized_input import split_input_options
from graphkd.registry import did_you_mean

#: The method name of plain cross-entropy training (no distiller).
CROSS_ENTROPY = "ce"
#: The augmentation name of timm's training transform.
TIMM_VIEW = "timm"

#: A checkpoint to resume from: its path and, when the file exists, its contents.
ResumePoint = Tuple[Path, Optional[Dict[str, Any]]]


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other name as ``torch.device``.

    Raises
    ------
    ValueError
        ``name`` is not a device (e.g. ``"gpu"``), or a CUDA device that PyTorch does
        not see.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"device {name!r} is not a device; use auto, cpu, cuda or cuda:<index> "
            "(config: run.device=cuda, CLI: --set run.device=cuda)"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index is not None and device.index >= count):
            raise ValueError(
                f"device {name!r} asks for a CUDA GPU, but PyTorch sees {count}; use auto or "
                "cpu (CLI: --set run.device=auto), or install a CUDA build of torch"
            )
    return device


def check_method(name: str) -> None:
    """Raise for a method that is neither ``"ce"``, registered, nor ``module:factory``."""
    if name == CROSS_ENTROPY:
        return
    if ":" in name:
        import_method(name)
        return
    valid = [CROSS_ENTROPY, *list_methods()]
    if name not in valid:
        raise ValueError(
            f"unknown method {name!r}; valid names: {', '.join(valid)} (or module:factory "
            "for a method of your own)" + did_you_mean(name, valid)
        )


def stage_epoch_options(method: str, options: Dict[str, Any]) -> Dict[str, int]:
    """The options of method ``method`` that set a stage's epochs (its factory's integer
    parameters named ``*_epochs``, e.g. MHGD's ``stage1_epochs``), with their values:
    ``options``' or the factory's defaults. Empty for ``"ce"``.

    Example
    -------
    >>> stage_epoch_options("mhgd", {})
    {'stage1_epochs': 40}
    """
    if method == CROSS_ENTROPY:
        return {}
    parameters = inspect.signature(METHODS.get(import_method(method))).parameters
    found = {}
    for name, parameter in parameters.items():
        value = options.get(name, parameter.default)
        if name.endswith("_epochs") and isinstance(value, int) and not isinstance(value, bool):
            found[name] = value
    return found


def scaled_epoch_options(method: str, options: Dict[str, Any], epochs: int) -> Dict[str, int]:
    """The in-schedule ``*_epochs`` defaults of method ``method`` (warm-ups, initialisation
    phases; its factory is marked :func:`~graphkd.distill.method_registry.written_for` the
    reference's schedule of :math:`E` epochs) that ``options`` leaves unset, scaled to a
    schedule of ``epochs`` epochs: ``round(default * epochs / E)``, at least 1 where the
    default is positive, so each phase takes the same fraction of the schedule as in the
    reference. Empty for unmarked methods and for ``epochs == E``.

    Example
    -------
    >>> scaled_epoch_options("dkd", {}, 15)
    {'warmup_epochs': 1}
    >>> scaled_epoch_options("dkd", {"warmup_epochs": 5}, 15)
    {}
    """
    reference = _reference_epochs(method)
    if reference is None or epochs == reference:
        return {}
    return {
        name: max(1, round(value * epochs / reference)) if value > 0 else 0
        for name, value in stage_epoch_options(method, {}).items()
        if name not in options
    }


def epoch_options_note(method: str, options: Dict[str, Any], epochs: int) -> Optional[str]:
    """A warning when an in-schedule ``*_epochs`` option of ``method`` (see
    :func:`scaled_epoch_options`) is not shorter than the ``epochs``-epoch schedule, so its
    phase never ends (a warm-up never reaches full weight, an initialisation never hands
    over to the task loss); ``None`` otherwise."""
    reference = _reference_epochs(method)
    if reference is None:
        return None
    values = stage_epoch_options(method, options)
    long = {name: value for name, value in values.items() if value >= epochs}
    if not long:
        return None
    fix = " ".join(
        f"--set method.options.{name}={max(1, round(values[name] * epochs / reference))}"
        for name in long
    )
    found = ", ".join(f"{name}={value}" for name, value in long.items())
    return (
        f"warning: {method}'s {found} lasts the whole {epochs}-epoch schedule, so that phase "
        f"never ends (the defaults are written for the reference's {reference} epochs); for "
        f"the same fraction of this schedule: {fix}"
    )


def short_schedule_note(method: str, epochs: int) -> Optional[str]:
    """What the benchmark measured for ``method`` on schedules as short as ``epochs``
    (a factory marked :func:`~graphkd.distill.method_registry.measured_short`), or
    ``None``.

    Example
    -------
    >>> short_schedule_note("hkd", 15).startswith("note: hkd (the contrastive terms")
    True
    >>> short_schedule_note("hkd", 30) is None and short_schedule_note("hkd_kd", 15) is None
    True
    """
    if method == CROSS_ENTROPY:
        return None
    marked = getattr(METHODS.get(import_method(method)), "short_schedule", None)
    if marked is None or epochs >= marked[0]:
        return None
    return f"note: {marked[1]}"


def _reference_epochs(method: str) -> Optional[int]:
    """The schedule length a method's epoch defaults are written for, or ``None``."""
    if method == CROSS_ENTROPY:
        return None
    return getattr(METHODS.get(import_method(method)), "reference_epochs", None)


def check_model(name: str) -> None:
    """Raise for a network name that is neither a zoo model nor ``torchvision:``/``timm:``
    (the error lists the valid names)."""
    parse_network(name)


def check_timm_views(config: Config) -> None:
    """Raise an ``ImportError`` saying ``pip install timm`` for a ``timm`` augmentation
    (``data.augmentation`` or a ``model.teacher_augmentations`` entry) without timm."""
    if config.data.augmentation == TIMM_VIEW:
        check_timm_augmentation("data.augmentation")
    if TIMM_VIEW in config.model.teacher_augmentations:
        check_timm_augmentation("model.teacher_augmentations entry")


def resizes_fixed_size_dataset(data: DataConfig) -> bool:
    """Whether ``data.image_size`` resizes a dataset of one fixed size (CIFAR-100,
    Fashion-MNIST), rather than naming the crops of an image folder."""
    info = getattr(DATASETS.get(data.dataset), "info", None)
    return (
        info is not None
        and data.image_size is not None
        and info.at_size(data.image_size) is not info
    )


def check_resized_dataset(config: Config, arch: str) -> None:
    """Refuse a network without ``input_size`` when ``data.image_size`` resizes a
    fixed-size dataset (CIFAR-100 at 224 pixels for a ViT student).

    The run's data are resized, but ``graphkd evaluate`` and the analysis read the
    dataset at its own size: a network that names the side it sees
    (``model.network_options.<name>.input_size``) gets it there too, and a teacher
    trained at the dataset's size sees the run's images resized back to it.
    """
    data = config.data
    if not resizes_fixed_size_dataset(data):
        return
    info = DATASETS.get(data.dataset).info
    networks = [(arch, data.image_size)]
    if config.method.name != CROSS_ENTROPY:
        teachers = config.model.teachers or [config.model.teacher]
        networks += [(teacher, info.image_size) for teacher in teachers]
    for name, size in networks:
        options = config.model.network_options.get(name, {})
        if isinstance(options, dict) and "input_size" in options:
            continue
        role = "the network trained" if name == arch else "a teacher"
        raise ValueError(
            f"data.image_size {data.image_size} resizes {data.dataset}'s {info.image_size}-"
            f"pixel images for this run, but {role}, {name}, does not say which side it "
            f"sees (graphkd evaluate reads the images at {info.image_size}); give it one: "
            f"--set 'model.network_options.{name}={{input_size: {size}}}'"
            + (" (the side it was trained at)" if name != arch else "")
        )


def check_run(
    config: Config,
    arch: str,
    arch_key: str,
    output: Path,
    resume: Union[bool, str],
    overwrite: bool,
    allow_method_change: bool,
    world_size: int,
) -> Optional[ResumePoint]:
    """Refuse a run that cannot start or would overwrite records; return the checkpoint
    to resume from (``None`` without ``resume``).

    Parameters
    ----------
    arch_key : str
        The config key naming ``arch`` (``"model.teacher"`` or ``"model.student"``).
    """
    check_model(arch)
    for name, options in config.model.network_options.items():
        if isinstance(options, dict):
            split_input_options(name, options)
    check_timm_views(config)
    check_resized_dataset(config, arch)
    method = config.method.name
    check_method(method)
    if method != CROSS_ENTROPY:
        check_method_options(method, config.method.options)
    batch = config.data.batch_size
    parts = world_size * config.optim.accumulate
    if batch % parts:
        raise ValueError(
            f"data.batch_size {batch} is the batch of one optimiser step and must be divisible "
            f"by the {world_size} process(es) x optim.accumulate {config.optim.accumulate} = "
            f"{parts}; change one of them"
        )
    per_process = min(batch, config.data.subset or batch) // parts
    if method != CROSS_ENTROPY and per_process < 2:
        raise ValueError(
            f"method {method!r} learns from relations within a batch and needs at least 2 "
            f"samples per process and step, got {per_process}; set data.batch_size={2 * parts} or "
            f"more (CLI: --set data.batch_size=64)"
        )
    if config.run.tensorboard:
        check_tensorboard()
    other = _recorded_method(output)
    collides = other is not None and other != method and ":" in method + other
    if collides and not resume and not overwrite:
        raise ValueError(
            f"run directory {output} holds a run of method {other!r}, and {method!r} would "
            "write there too (a module:factory method's run is named after the factory); "
            "choose another run.output (CLI: --set run.output=DIR), or replace that run with "
            "overwrite=True (CLI: --overwrite)"
        )
    check_run_folder(output, resume, overwrite)
    path = _resume_path(resume, output)
    if path is None or not path.is_file():
        return None if path is None else (path, None)
    state = read_training_checkpoint(path)
    check_resume_fits(state, path, config, arch, arch_key, allow_method_change)
    return path, state


def _recorded_method(output: Path) -> Optional[str]:
    """The method of the run whose ``config.yaml`` is in ``output``, or ``None``."""
    try:
        saved = yaml.safe_load((output / "config.yaml").read_text())
        name = saved["method"]["name"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def check_resume_fits(
    state: Dict[str, Any],
    path: Path,
    config: Config,
    arch: str,
    arch_key: str,
    allow_method_change: bool,
) -> None:
    """Refuse a checkpoint saved by a run of another model, dataset or method (the
    checkpoint records its architecture and its run's config)."""
    saved_config = state.get("config") or {}
    saved_arch = state.get("arch")
    if saved_arch is not None and saved_arch != arch:
        raise ValueError(
            f"checkpoint {path} holds a {saved_arch}, but this run trains a {arch}; resume "
            f"from a {arch} run's checkpoint, or set {arch_key}={saved_arch} "
            f"(CLI: --set {arch_key}={saved_arch})"
        )
    saved_dataset = saved_config.get("data", {}).get("dataset")
    if saved_dataset is not None and saved_dataset != config.data.dataset:
        raise ValueError(
            f"checkpoint {path} was trained on {saved_dataset}, this run uses "
            f"{config.data.dataset}; set data.dataset={saved_dataset} "
            f"(CLI: --set data.dataset={saved_dataset})"
        )
    saved_method = saved_config.get("method", {}).get("name")
    if saved_method is not None and saved_method != config.method.name and not allow_method_change:
        raise ValueError(
            f"checkpoint {path} is from a {saved_method!r} run, this run is "
            f"{config.method.name!r}; resume from a {config.method.name!r} run's checkpoint, "
            "or continue these weights with the new method anyway with "
            "allow_method_change=True (CLI: --allow-method-change)"
        )


def check_teacher_checkpoint(
    saved: Any, path: str, config: Config, index: Optional[int] = None
) -> None:
    """Refuse teacher weights that ``model.pt`` (or ``last.pt``) records as another
    architecture or dataset than the config names (``index``: the ensemble member,
    ``model.teachers[index]``; ``None``: ``model.teacher``)."""
    if not isinstance(saved, dict):
        return
    model = config.model
    arch = model.teacher if index is None else model.teachers[index]
    saved_arch = saved.get("arch")
    if isinstance(saved_arch, str) and saved_arch != arch:
        if index is None:
            setting = f"model.teacher={saved_arch}"
        else:
            names = [saved_arch if k == index else a for k, a in enumerate(model.teachers)]
            setting = f"model.teachers=[{','.join(names)}]"
        raise ValueError(
            f"teacher checkpoint {path} holds a {saved_arch} (the file records it), but the "
            f"config's teacher is {arch}; set {setting} (CLI: --set {setting})"
        )
    # the input size says what the network sees, not which weights it holds
    options = model.network_options.get(arch, {})
    given = _constructor_options(options)
    recorded = _constructor_options(saved_options(saved))
    if isinstance(saved_arch, str) and recorded != given:
        fix = {**recorded, **{k: v for k, v in options.items() if k in INPUT_OPTIONS}}
        raise ValueError(
            f"teacher checkpoint {path} holds a {arch} built with the options {recorded} (the "
            f"file records them), but model.network_options gives it {given}; set "
            f"model.network_options.{arch} to {fix} (CLI: --set "
            f"'model.network_options.{arch}={_flow_mapping(fix)}')"
        )
    saved_config = saved.get("config") or {}
    saved_dataset = saved.get("dataset") or saved_config.get("data", {}).get("dataset")
    if isinstance(saved_dataset, str) and saved_dataset != config.data.dataset:
        raise ValueError(
            f"teacher checkpoint {path} was trained on {saved_dataset}, this run uses "
            f"{config.data.dataset}; give a teacher trained on {config.data.dataset}"
        )


def _constructor_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """``options`` without the input-resize keys (:data:`~graphkd.models.INPUT_OPTIONS`)."""
    return {key: value for key, value in options.items() if key not in INPUT_OPTIONS}


def _flow_mapping(options: Dict[str, Any]) -> str:
    """``options`` as a one-line YAML mapping, as ``--set`` reads it."""
    return yaml.safe_dump(options, default_flow_style=True).strip()


def _resume_path(resume: Union[bool, str], output: Path) -> Optional[Path]:
    if resume is False or resume is None:
        return None
    if resume is True:
        return output / LAST
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; pass an existing last.pt or previous.pt")
    return path
