"""Typed run configurations, loaded from YAML and overridable from the command line.

A :class:`Config` has five sections: ``data``, ``model``, ``optim``, ``method`` and
``run``. YAML files are read with ``yaml.safe_load`` (configs never execute code);
``key.sub=value`` overrides are parsed the same way, so ``optim.lr=0.01`` gives a float
and ``optim.milestones=[150,180]`` a list. An unknown key is an error that names it and
lists the valid ones. The resolved configuration is written as ``config.yaml`` beside
every run.

Example
-------
>>> config = load_config("fashion_mnist", overrides=["optim.epochs=1", "data.subset=256"])
>>> config.optim.epochs, config.data.subset, config.model.student
(1, 256, 'resnet8')
>>> apply_overrides(config, ["optim.momentm=0.9"])
Traceback (most recent call last):
    ...
ValueError: unknown config key 'optim.momentm'; valid keys of 'optim': accumulate, decay_all_parameters, epochs, gamma, lr, milestones, min_lr, momentum, nesterov, optimizer, schedule, warmup_epochs, warmup_lr, weight_decay; did you mean 'optim.momentum'?
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import yaml

from graphkd.registry import did_you_mean


@dataclass
class DataConfig:
    """Which data, how much of it and how it is batched.

    Parameters
    ----------
    dataset : str
        A name of :func:`graphkd.data.list_datasets`.
    root : str, optional
        Data directory (default: :func:`graphkd.data.default_data_dir`, then the system
        copy). A root given explicitly is the only place looked in: a root without the
        data is an error (or, with ``download``, where the download goes).
    batch_size : int
        Training batch of one optimiser step, over all processes and accumulation steps
        (see ``optim.accumulate``): each process loads
        ``batch_size / (processes * accumulate)`` images at a time.
    test_batch_size : int
        Evaluation batch size.
    workers : int
        ``DataLoader`` worker processes per training process; with workers the loaders
        keep them between epochs (``persistent_workers``) and, on CUDA, pin memory.
    subset : int, optional
        Train on a fixed random subset of this many training images (tiny runs).
    test_subset : int, optional
        Evaluate on a fixed random subset of this many test images.
    limit_batches : int, optional
        Stop each training epoch after this many batches (smoke runs).
    download : bool
        Download the dataset into ``root`` when no local copy is found there (default
        ``True``; the log says which files were read, or that it downloads). With
        ``False``, or offline, a missing dataset is an error that names the folders
        searched and the fix.
    augmentation : str
        The trained network's augmentation (the teacher's in ``train-teacher``, the
        student's in ``distill``): ``"standard"`` (random crop and flip, default),
        ``"weak"`` or ``"strong"`` (:func:`graphkd.data.ensemble_augmentation`), or
        ``"timm"``: timm's training transform as Li et al. train vision transformers on
        CIFAR-100 (:class:`graphkd.data.TimmAugmentation`: bicubic random-resized crops
        of the image size, RandAugment ``rand-m9-mstd0.5-inc1``, random erasing 0.25,
        the dataset's mean and std; needs ``pip install timm``).
    image_size : int, optional
        Crop side of an ``image_folder`` dataset (default 224, ImageNet's); small values
        make CPU smoke runs of the ImageNet recipes fast. A fixed-size dataset
        (CIFAR-100, Fashion-MNIST) is resized to it for the run
        (:meth:`graphkd.data.DatasetInfo.at_size`: random-resized training crops,
        resized test images), e.g. 224 for a ViT student; every network of such a run
        names the side it sees in ``model.network_options.<name>.input_size`` (the
        student: this size; a teacher trained at the dataset's size: that size), which
        ``graphkd evaluate`` then applies to the dataset's own images.
    on_device : bool
        Keep the training images on the run's device and batch and augment them there
        (:mod:`graphkd.data.device_batches`; ``channels_last`` models and images on
        CUDA); the standard augmentation and the virtual view only, one process.
    """

    dataset: str = "fashion_mnist"
    root: Optional[str] = None
    batch_size: int = 128
    test_batch_size: int = 256
    workers: int = 0
    subset: Optional[int] = None
    test_subset: Optional[int] = None
    limit_batches: Optional[int] = None
    download: bool = True
    augmentation: str = "standard"
    image_size: Optional[int] = None
    on_device: bool = False


@dataclass
class ModelConfig:
    """The teacher and student networks, by name (see :func:`graphkd.models.create_network`).

    A name is a zoo model of :func:`graphkd.models.list_models` (``"resnet32x4"``),
    ``"torchvision:<model>[:<weights>]"`` (``"torchvision:resnet34:IMAGENET1K_V1"``) or
    ``"timm:<model>[:pretrained]"``.

    Parameters
    ----------
    teacher : str
        Teacher network.
    student : str
        Student network.
    teacher_checkpoint : str, optional
        Trained teacher weights for distillation (default: the ``model.pt`` that
        ``graphkd train-teacher`` wrote to ``<run.output>/teacher``; not needed for a
        teacher named with pretrained weights).
    teachers, teacher_checkpoints : list of str
        A teacher ensemble instead of one teacher: architectures and their trained
        weights, one each (both empty by default); ``method.ensemble`` says how their
        losses combine.
    teacher_augmentations : list of str
        What each teacher sees. Empty (default): the student's augmented image, for every
        teacher. Otherwise one entry per teacher: ``"student"`` (the student's image) or
        an augmentation of ``data.augmentation``'s choices (``"standard"``, ``"weak"``,
        ``"strong"``), drawn for that teacher from the same training image.
    network_options : dict
        Keyword options of a network's constructor by network name, for every network of
        that name in the run (e.g. ``{"resnet8": {"widths": [8, 8, 16, 32]}}``: a resnet8
        of half the width, a quarter of the parameters; CLI: ``--set
        'model.network_options.resnet8={widths: [8, 8, 16, 32]}'``). ``model.pt`` records
        them, so ``graphkd evaluate`` rebuilds the same network. Empty by default. Two
        keys are graphkd's and fit any network: ``input_size`` resizes the network's
        input to that side and ``input_interpolation`` (``"bilinear"``, default,
        ``"bicubic"``, ``"nearest"``, ``"area"``) says how
        (:mod:`graphkd.models.resized_input`): the teacher of a 224-pixel ViT student
        sees the student's batch at 32 pixels with ``{input_size: 32}``.
    """

    teacher: str = "resnet20"
    student: str = "resnet8"
    teacher_checkpoint: Optional[str] = None
    teachers: List[str] = field(default_factory=list)
    teacher_checkpoints: List[str] = field(default_factory=list)
    teacher_augmentations: List[str] = field(default_factory=list)
    network_options: Dict[str, Dict[str, Any]] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """The optimiser and its learning-rate schedule, stepped once per epoch.

    By default SGD with a multi-step schedule: the rate starts at ``lr`` and is multiplied
    by ``gamma`` at each of ``milestones``. ``schedule: cosine`` gives instead, for the
    epoch of index :math:`e` (from 0) of :math:`E` = ``epochs``, with :math:`W` =
    ``warmup_epochs`` and the rates :math:`\\eta` = ``lr``, :math:`\\eta_0` =
    ``warmup_lr``, :math:`\\eta_{\\min}` = ``min_lr``:

    .. math::

        \\eta_e = \\begin{cases}
            \\eta_0 + \\frac{e}{W} (\\eta - \\eta_0) & e < W \\\\
            \\eta_{\\min} + \\tfrac12 (\\eta - \\eta_{\\min})
                \\left(1 + \\cos \\frac{\\pi e}{E}\\right) & e \\ge W
        \\end{cases}

    This is timm's ``CosineLRScheduler`` (without ``warmup_prefix``) as Li et al.'s
    ``lkhl/tiny-transformers`` trainer steps it: once at the end of each epoch, with the
    epoch, so the warm-up rises per epoch, not per step; and the cosine runs over all
    :math:`E` epochs, the warm-up taking the place of its first :math:`W`.

    Parameters
    ----------
    optimizer : {"sgd", "adamw"}
        ``"sgd"`` (default): SGD with ``momentum`` and ``nesterov``; ``"adamw"``: AdamW
        (Loshchilov and Hutter, 2019) with PyTorch's betas (0.9, 0.999), its decoupled
        weight decay ``weight_decay``; ``momentum`` is then unused.
    lr : float
        Initial learning rate (the peak of the cosine schedule, after the warm-up).
    momentum : float
        SGD momentum.
    weight_decay : float
        SGD's L2 weight decay, AdamW's decoupled one.
    decay_all_parameters : bool
        ``True`` (default): ``weight_decay`` applies to every trained parameter.
        ``False``: not to one-dimensional parameters (biases, normalisation scales and
        shifts), to biases, nor to a vision transformer's tokens and position
        embeddings (names holding ``cls_token``, ``dist_token`` or ``pos_embed``), the
        rule of DeiT and of Li et al.'s trainer.
    nesterov : bool
        Nesterov momentum (SGD).
    epochs : int
        Training epochs.
    schedule : {"step", "cosine"}
        ``"step"`` (default): multiply the rate by ``gamma`` at ``milestones``;
        ``"cosine"``: the cosine above (``milestones`` and ``gamma`` unused).
    milestones : list of int
        Epochs at which the learning rate is multiplied by ``gamma`` (step schedule).
    gamma : float
        Decay factor (step schedule).
    warmup_epochs : int
        Epochs of linear warm-up from ``warmup_lr`` (cosine schedule; default 0).
    warmup_lr : float
        Learning rate of the first warm-up epoch (cosine schedule; default 0).
    min_lr : float
        The rate the cosine ends at (default 0).
    accumulate : int
        Gradient accumulation: batches whose gradients add up before each optimiser step
        (1: none). The batch of one step stays ``data.batch_size``; methods that relate
        the samples of a batch (graphs, memory-bank updates) see each smaller batch.
    """

    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    decay_all_parameters: bool = True
    nesterov: bool = False
    epochs: int = 240
    schedule: str = "step"
    milestones: List[int] = field(default_factory=lambda: [150, 180, 210])
    gamma: float = 0.1
    warmup_epochs: int = 0
    warmup_lr: float = 0.0
    min_lr: float = 0.0
    accumulate: int = 1


@dataclass
class MethodConfig:
    """The distillation method and its options.

    Parameters
    ----------
    name : str
        ``"ce"`` (cross-entropy only) or a name of :func:`graphkd.list_methods`.
    options : dict
        Keyword options of the method preset (any keys the preset accepts).
    ensemble : str
        With several teachers: ``"per_teacher"`` (the method's loss per teacher, averaged;
        default) or ``"average_logits"`` (one loss on the teachers' averaged responses).
    graph_batch : str
        Under data parallelism: ``"local"`` (default) builds each rank's graphs over its
        own samples; ``"global"`` over the samples of all ranks (an all-gather that keeps
        gradients for the local part; see :mod:`graphkd.engine.global_batch`).
    """

    name: str = "kd"
    options: Dict[str, Any] = field(default_factory=dict)
    ensemble: str = "per_teacher"
    graph_batch: str = "local"


@dataclass
class RunConfig:
    """Reproducibility, output and hardware settings.

    Parameters
    ----------
    seed : int
        Seed of python, numpy, torch and dgl (see :func:`graphkd.seed_everything`).
    output : str
        Experiment directory. The teacher's run goes to ``<output>/teacher``, each
        distillation to ``<output>/<method>``; every run directory holds ``config.yaml``,
        ``metrics.csv``, ``last.pt``, ``previous.pt`` and ``model.pt``.
    amp : bool
        Mixed precision (``torch.autocast``) for the networks; the distiller stays float32.
    amp_dtype : str
        The autocast type: ``"auto"`` (float16 on CUDA, with a gradient scaler; bfloat16
        elsewhere), ``"float16"`` or ``"bfloat16"`` (no scaler needed).
    channels_last : bool
        Keep the networks and image batches in channels-last memory format (faster
        convolutions on tensor-core GPUs).
    compile : bool
        ``torch.compile`` the teacher and student networks (not the graph code).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    deterministic : bool
        Deterministic algorithms only (bitwise-reproducible runs and resumes).
    tensorboard : bool
        Also write every logged number as a TensorBoard scalar to
        ``<run directory>/tensorboard`` (needs ``pip install 'graphkd[log]'``).
    """

    seed: int = 0
    output: str = "runs/default"
    amp: bool = False
    amp_dtype: str = "auto"
    channels_last: bool = False
    compile: bool = False
    device: str = "auto"
    deterministic: bool = False
    tensorboard: bool = False


@dataclass
class Config:
    """A whole run: data, models, optimiser, method and run settings."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    run: RunConfig = field(default_factory=RunConfig)


_FREE_FORM = {("method", "options"), ("model", "network_options")}
#: The values of ``optim.optimizer``.
OPTIMIZERS = ("sgd", "adamw")
#: The values of ``optim.schedule``.
SCHEDULES = ("step", "cosine")
#: The values of ``run.amp_dtype``.
AMP_DTYPES = ("auto", "float16", "bfloat16")
_NULLABLE = {"data.subset", "data.test_subset", "data.limit_batches"}


def _field_names(cls: type) -> List[str]:
    return sorted(f.name for f in dataclasses.fields(cls))


def _unknown(key: str, section: str, cls: type) -> ValueError:
    where = f"of {section!r}" if section else "at the top level"
    prefix = f"{section}." if section else ""
    suggestion = did_you_mean(key, [prefix + name for name in _field_names(cls)])
    return ValueError(
        f"unknown config key {key!r}; valid keys {where}: {', '.join(_field_names(cls))}"
        + suggestion
    )


def _build(cls: type, values: Any, path: str) -> Any:
    if not isinstance(values, Mapping):
        raise ValueError(
            f"config section {path or 'top level'!r} must be a mapping of keys to values, got "
            f"{type(values).__name__}; write it as 'key: value' lines"
        )
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in known:
            raise _unknown(full, path, cls)
        section_cls = _SECTIONS.get(key) if not path else None
        if section_cls is not None:
            value = _build(section_cls, value if value is not None else {}, key)
        kwargs[key] = value
    return cls(**kwargs)


_SECTIONS: Dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "method": MethodConfig,
    "run": RunConfig,
}


def config_from_dict(values: Mapping[str, Any]) -> Config:
    """A :class:`Config` from nested plain values (missing keys keep their defaults).

    Raises
    ------
    ValueError
        An unknown key; the message names it and lists the valid ones.
    """
    config = _build(Config, values, "")
    _check_types(config)
    return config


def config_to_dict(config: Config) -> Dict[str, Any]:
    """The configuration as nested plain values (what ``config.yaml`` holds)."""
    return dataclasses.asdict(config)


def _check_types(config: Config) -> None:
    for section in _SECTIONS:
        part = getattr(config, section)
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            default = _default(f)
            name = f"{section}.{f.name}"
            if value is None or default is None or (section, f.name) in _FREE_FORM:
                if (section, f.name) in _FREE_FORM and not isinstance(value, dict):
                    raise ValueError(f"{name} must be a mapping of option names to values")
                continue
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if ok:
                    setattr(part, f.name, float(value))
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(default, list):
                ok = isinstance(value, list)
            else:
                ok = isinstance(value, type(default))
            if not ok:
                kind = type(default).__name__
                article = "an" if kind[0] in "aeiou" else "a"
                raise ValueError(
                    f"config key {name} must be {article} {kind} like {default!r}, got {value!r}"
                )
    data = config.data
    for name, value, least in (
        ("data.batch_size", data.batch_size, 1),
        ("data.test_batch_size", data.test_batch_size, 1),
        ("data.subset", data.subset, 1),
        ("data.test_subset", data.test_subset, 1),
        ("data.limit_batches", data.limit_batches, 1),
        ("data.workers", data.workers, 0),
        ("optim.epochs", config.optim.epochs, 1),
        ("optim.accumulate", config.optim.accumulate, 1),
    ):
        if value is not None and value < least:
            unset = " (or null for no limit)" if name in _NULLABLE else ""
            raise ValueError(f"{name} must be at least {least}{unset}, got {value}")
    if config.run.amp_dtype not in AMP_DTYPES:
        raise ValueError(
            f"run.amp_dtype must be one of {', '.join(AMP_DTYPES)}, got {config.run.amp_dtype!r}"
        )
    _check_optim(config.optim)


def _check_optim(optim: OptimConfig) -> None:
    """The optimiser and schedule settings, checked before any data or model is built
    (PyTorch would refuse some only when the optimiser is created, without the key)."""
    defaults = OptimConfig()
    for key, value, valid, rule in (
        ("lr", optim.lr, optim.lr >= 0, "must be at least 0"),
        ("momentum", optim.momentum, 0 <= optim.momentum < 1, "must be in [0, 1)"),
        ("weight_decay", optim.weight_decay, optim.weight_decay >= 0, "must be at least 0"),
        ("gamma", optim.gamma, optim.gamma > 0, "must be positive"),
    ):
        if not (valid and math.isfinite(value)):
            raise ValueError(
                f"optim.{key} {rule}, got {value}; e.g. --set optim.{key}={getattr(defaults, key)}"
            )
    if optim.nesterov and optim.momentum == 0:
        raise ValueError(
            "optim.nesterov needs a momentum, and optim.momentum is 0; --set optim.momentum=0.9 "
            "or --set optim.nesterov=false"
        )
    for key, valid_values in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
        value = getattr(optim, key)
        if value not in valid_values:
            raise ValueError(
                f"optim.{key} must be one of {', '.join(valid_values)}, got {value!r}; e.g. "
                f"--set optim.{key}={valid_values[-1]}" + did_you_mean(str(value), valid_values)
            )
    if optim.nesterov and optim.optimizer != "sgd":
        raise ValueError(
            f"optim.nesterov is SGD's; optim.optimizer is {optim.optimizer}: --set "
            "optim.nesterov=false, or --set optim.optimizer=sgd"
        )
    _check_cosine(optim)
    wrong = [m for m in optim.milestones if isinstance(m, bool) or not isinstance(m, int) or m < 1]
    if wrong:
        raise ValueError(
            f"optim.milestones must be epochs (whole numbers from 1), got {optim.milestones}; "
            f"e.g. --set optim.milestones=[{max(1, optim.epochs // 2)}]"
        )


def _check_cosine(optim: OptimConfig) -> None:
    """The cosine schedule's rates and warm-up, or their absence from a step schedule."""
    if optim.schedule != "cosine":
        set_keys = [
            f"optim.{key}={getattr(optim, key)}"
            for key in ("warmup_epochs", "warmup_lr", "min_lr")
            if getattr(optim, key) != 0
        ]
        if set_keys:
            raise ValueError(
                f"{', '.join(set_keys)}: warm-up and minimum rates apply to "
                f"optim.schedule=cosine, and optim.schedule is {optim.schedule}; --set "
                "optim.schedule=cosine, or set them to 0"
            )
        return
    for key, value in (("warmup_lr", optim.warmup_lr), ("min_lr", optim.min_lr)):
        if not (math.isfinite(value) and 0 <= value <= optim.lr):
            raise ValueError(
                f"optim.{key} must be in [0, optim.lr] = [0, {optim.lr}], got {value}; e.g. "
                f"--set optim.{key}={optim.lr / 100:g}"
            )
    if optim.lr == 0:
        raise ValueError(
            "optim.schedule=cosine scales a positive optim.lr, got 0; e.g. --set optim.lr=5e-4"
        )
    if not 0 <= optim.warmup_epochs < optim.epochs:
        raise ValueError(
            f"optim.warmup_epochs must be in [0, optim.epochs) = [0, {optim.epochs}), got "
            f"{optim.warmup_epochs}; e.g. --set optim.warmup_epochs={optim.epochs // 15}"
        )


def milestones_beyond_epochs(optim: OptimConfig) -> Optional[str]:
    """A note when a learning-rate milestone of a step schedule lies beyond
    ``optim.epochs`` (the rate never decays there), or ``None``."""
    if optim.schedule != "step":
        return None
    beyond = [m for m in optim.milestones if m > optim.epochs]
    if not beyond:
        return None
    return (
        f"optim.milestones {beyond} lie beyond optim.epochs {optim.epochs}: the learning rate "
        f"does not decay there; --epochs N scales the milestones with the epochs, or "
        f"--set optim.milestones=[...] sets them"
    )


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def apply_overrides(config: Config, overrides: Sequence[str]) -> Config:
    """Apply ``section.key=value`` overrides (values parsed with ``yaml.safe_load``).

    ``method.options.<name>=value`` sets one option of the method preset.

    Raises
    ------
    ValueError
        A malformed override or an unknown key (the message lists the valid ones).
    """
    values = config_to_dict(config)
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"override {override!r} must look like section.key=value")
        parts = key.split(".")
        if parts[0] not in _SECTIONS:
            raise _unknown(key, "", Config)
        if len(parts) == 1:
            raise ValueError(
                f"override {override!r} names a whole section; set one key, e.g. "
                f"{parts[0]}.{_field_names(_SECTIONS[parts[0]])[0]}=..."
            )
        section_cls = _SECTIONS[parts[0]]
        if parts[1] not in _field_names(section_cls):
            raise _unknown(".".join(parts[:2]), parts[0], section_cls)
        free = (parts[0], parts[1]) in _FREE_FORM
        if len(parts) > 2 and not free or len(parts) > 3:
            raise ValueError(
                f"unknown config key {key!r}; {'.'.join(parts[:2])} has no sub-keys"
                if not free
                else f"unknown config key {key!r}; write {parts[0]}.{parts[1]}.<option>=value"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as error:
            raise ValueError(
                _yaml_problem(f"override {override!r}", error, "quote or fix the value")
            ) from None
        target = values[parts[0]]
        if len(parts) == 3:
            target = target.setdefault(parts[1], {})
        target[parts[-1]] = value
    return config_from_dict(values)


def shipped_configs() -> List[str]:
    """Names of the configurations shipped in ``graphkd/configs`` (without ``.yaml``)."""
    folder = resources.files("graphkd") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


#: The header line of a recipe config naming the number it should reach.
TARGET_PREFIX = "# target:"


def config_target(name: str) -> Optional[str]:
    """The published result shipped config ``name`` should reach, or ``None``.

    A recipe config names it in its header, in a line ``# target: <what and source>``.

    Example
    -------
    >>> config_target("cifar100_lskd_vgg13_vgg8")
    'KD+z-score (LSKD) 74.36 top-1 on CIFAR-100 (Sun et al., CVPR 2024, reference README)'
    >>> config_target("fashion_mnist") is None
    True
    """
    text = _resolve(name).read_text()
    for line in text.splitlines():
        if line.startswith(TARGET_PREFIX):
            return line[len(TARGET_PREFIX) :].strip()
        if not line.startswith("#"):
            return None
    return None


def _resolve(path_or_name: Union[str, os.PathLike[str]]) -> Any:
    path = Path(path_or_name).expanduser()
    if path.is_file():
        return path
    name = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    if str(path_or_name) in (name, f"{name}.yaml") and name in shipped_configs():
        return resources.files("graphkd") / "configs" / f"{name}.yaml"
    raise ValueError(
        f"config {os.fspath(path_or_name)!r} is neither a file nor a shipped config (the "
        f"{len(shipped_configs())} shipped configs: `graphkd list`)"
        + did_you_mean(name, shipped_configs())
    )


def load_config(
    path_or_name: Union[str, os.PathLike[str]], overrides: Sequence[str] = ()
) -> Config:
    """Load a YAML config file (or a shipped config by name) and apply ``overrides``.

    Parameters
    ----------
    path_or_name : str or os.PathLike
        A YAML file, or the name of a shipped config (``"fashion_mnist"``,
        ``"cifar100_resnet32x4_resnet8x4"``, ... see :func:`shipped_configs`).
    overrides : sequence of str
        ``section.key=value`` items, applied in order.

    Returns
    -------
    Config
    """
    source = _resolve(path_or_name)
    try:
        values = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(_yaml_problem(source, error)) from None
    return apply_overrides(config_from_dict(values), overrides)


def _yaml_problem(source: Any, error: yaml.YAMLError, fix: str = "fix the file") -> str:
    """One line naming the file, the place and the fix of a YAML error."""
    mark = getattr(error, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if isinstance(error, yaml.constructor.ConstructorError) and "!!python" in str(error):
        return (
            f"config {source}{where}: {problem}; configs hold plain values only and a "
            "python tag is never executed: remove the tag"
        )
    return f"config {source}{where} is not valid YAML: {problem}; {fix}"


def config_yaml(config: Config) -> str:
    """The resolved ``config`` as YAML text, every key of every section."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def save_config(config: Config, path: Union[str, os.PathLike[str]]) -> None:
    """Write the resolved ``config`` as YAML to ``path``."""
    Path(path).write_text(config_yaml(config))
