"""The networks and the method of a run: the student, the frozen teachers with their
weights, the method's distiller and its stages, on the run's device, with the modules
that train wrapped for DDP."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from graphkd.data import dataset_info
from graphkd.distill import Distiller, Stage, create_method, method_arguments
from graphkd.distill.ensemble import EnsembleDistiller
from graphkd.engine.config import Config, DataConfig, MethodConfig, ModelConfig, RunConfig
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.method_setup import (
    known_values,
    method_stages,
    needs_virtual_view,
    preact_taps,
)
from graphkd.engine.run_checks import CROSS_ENTROPY, check_model, check_teacher_checkpoint
from graphkd.engine.run_data import data_info
from graphkd.engine.training_views import check_augmentations
from graphkd.models import TappedModel, create_network, load_checkpoint, tap


@dataclass
class RunModels:
    """The networks of a run: the tapped student, the frozen teachers, the method's
    distiller (``None`` for ``"ce"``) and its stages; ``student_step`` is the student a
    training step calls (wrapped in DDP when distributed)."""

    student: TappedModel
    teachers: List[TappedModel]
    distiller: Optional[Distiller]
    stages: List[Stage]
    student_step: nn.Module

    @property
    def stage_epochs(self) -> int:
        """Epochs of the distiller-only stages before the student's."""
        return sum(int(stage.epochs or 0) for stage in self.stages[:-1])


def build_model(
    name: str,
    dataset: str,
    root: Optional[str] = None,
    image_size: Optional[int] = None,
    options: Optional[Dict[str, Any]] = None,
) -> nn.Module:
    """The network ``name`` (a zoo name, ``torchvision:...`` or ``timm:...``, see
    :func:`graphkd.models.create_network`) shaped for ``dataset`` (classes, channels,
    image size; an ``image_folder`` dataset is described from ``root``), with its
    constructor's keyword ``options``."""
    info = dataset_info(dataset, root, image_size)
    return create_network(
        name,
        num_classes=info.num_classes,
        in_channels=info.in_channels,
        input_size=info.image_size,
        options=options,
    )


def network_options(model: ModelConfig, name: str) -> Dict[str, Any]:
    """The constructor options ``model.network_options`` gives network ``name`` (empty
    when it gives none)."""
    options = model.network_options.get(name, {})
    if not isinstance(options, dict):
        raise ValueError(
            f"model.network_options.{name} must map option names to values, got "
            f"{options!r}; e.g. --set 'model.network_options.{name}={{widths: [8, 8, 16, 32]}}'"
        )
    return options


def build_models(
    config: Config, arch: str, with_teacher: bool, train_set: Dataset, context: DistributedContext
) -> RunModels:
    """The student ``arch``, the configured teachers (frozen) and the method's distiller,
    on the run's device; under DDP the modules that train are wrapped."""
    device = context.device
    teacher_specs = _teacher_specs(config.model) if with_teacher else []
    check_augmentations(config, len(teacher_specs))
    # a method reading pre-activation stage outputs (OFD, AB) gets them from every network
    preact = with_teacher and preact_taps(config.method.name, config.method.options)
    with torch.random.fork_rng(devices=[]):  # the same initial student for every method
        torch.manual_seed(config.run.seed)
        student = network(config.data, config.run, arch, network_options(config.model, arch))
        student = tap(student, preact=preact).to(device)
    teachers = [
        _frozen_teacher(
            config, arch_, weights, None if not config.model.teachers else k, device, preact
        )
        for k, (arch_, weights) in enumerate(teacher_specs)
    ]
    distiller = _create_distiller(config.method, config.data, train_set, student, teachers, device)
    student_step = _for_ddp(student, distiller, context)
    return RunModels(student, teachers, distiller, method_stages(distiller), student_step)


def _for_ddp(
    student: TappedModel, distiller: Optional[Distiller], context: DistributedContext
) -> nn.Module:
    """The student a step calls: itself, or under DDP wrapped (the frozen teacher stays as
    it is), with the distiller starting from rank 0's parameters."""
    if not context.active:
        return student
    ids = [context.device] if context.device.type == "cuda" else None
    # a method with a virtual view runs the student twice per step; broadcasting
    # rank 0's BatchNorm buffers at the second forward would overwrite statistics the
    # first one saved for backward, so each rank keeps its own (rank 0's are saved)
    # (newer torch names the switch forward_sync_buffers)
    sync = "forward_sync_buffers"
    if sync not in inspect.signature(DistributedDataParallel).parameters:
        sync = "broadcast_buffers"
    options = {sync: False} if needs_virtual_view(distiller) else {}
    student_step = DistributedDataParallel(student, device_ids=ids, **options)
    if distiller is not None:
        # the distiller starts from rank 0's parameters and its gradients are averaged
        # after each backward (train_epoch), which copes with parameters a step leaves
        # unused; its memory banks are synchronised by the method itself (after_step)
        context.broadcast_parameters(distiller)
    return student_step


def network(data: DataConfig, run: RunConfig, name: str, options: Dict[str, Any]) -> nn.Module:
    """The network ``name`` with constructor ``options`` for the configured dataset, in
    channels-last format (``run.channels_last``) and compiled (``run.compile``) when
    asked."""
    model = build_model(name, data.dataset, data.root, data.image_size, options)
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if run.compile:
        model.compile()
    return model


def _frozen_teacher(
    config: Config,
    arch: str,
    weights: Optional[str],
    index: Optional[int],
    device: torch.device,
    preact: bool = False,
) -> TappedModel:
    """Network ``arch`` with trained ``weights`` (checked to be saved for ``arch`` and
    the dataset when the file records them; ``None`` for a network named with pretrained
    weights), tapped (``preact``: its pre-activation stage outputs), in eval mode, without
    gradients; ``index``: its place in ``model.teachers`` (``None`` for ``model.teacher``)."""
    check_model(arch)
    options = network_options(config.model, arch)
    if weights is None:
        return _frozen(network(config.data, config.run, arch, options), device, preact)
    if not Path(weights).is_file():
        raise FileNotFoundError(
            f"teacher checkpoint {weights} not found; train the teacher with `graphkd "
            "train-teacher` or set model.teacher_checkpoint=<its model.pt>"
        )
    saved = torch.load(weights, map_location="cpu", weights_only=True)
    check_teacher_checkpoint(saved, weights, config, index)
    model = network(config.data, config.run, arch, options)
    try:
        load_checkpoint(model, saved)
    except ValueError as error:
        raise ValueError(f"teacher checkpoint {weights} does not fit a {arch}: {error}") from None
    return _frozen(model, device, preact)


def _frozen(model: nn.Module, device: torch.device, preact: bool = False) -> TappedModel:
    """``model`` tapped (``preact``: before the stages' final activations), on
    ``device``, in eval mode, without gradients."""
    teacher = tap(model, preact=preact).to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


def _create_distiller(
    method: MethodConfig,
    data: DataConfig,
    train_set: Dataset,
    student: TappedModel,
    teachers: List[TappedModel],
    device: torch.device,
) -> Optional[Distiller]:
    """The configured method (``None`` for ``"ce"``), told what it asks to know (of the
    ``data`` section, the training set and the networks); one per teacher in an
    :class:`EnsembleDistiller` for several teachers."""
    name = method.name
    if name == CROSS_ENTROPY:
        return None
    info = data_info(data)
    distillers = []
    for teacher in teachers or [None]:
        known = known_values(train_set, info, student, teacher, device)
        distillers.append(
            create_method(name, **{**method_arguments(name, known), **method.options})
        )
    if len(teachers) <= 1:
        return distillers[0].to(device)
    mode = method.ensemble
    members = distillers[:1] if mode == "average_logits" else distillers
    return EnsembleDistiller(members, mode).to(device)


def _teacher_specs(model: ModelConfig) -> List[Tuple[str, Optional[str]]]:
    """(network, weights file) of each teacher: the ensemble's, or the single teacher
    (weights ``None`` for a network named with pretrained weights and no checkpoint)."""
    if not model.teachers:
        return [(model.teacher, model.teacher_checkpoint)]
    if len(model.teachers) != len(model.teacher_checkpoints):
        raise ValueError(
            f"model.teachers names {len(model.teachers)} teachers but model.teacher_checkpoints "
            f"gives {len(model.teacher_checkpoints)} weight files; give one per teacher"
        )
    return list(zip(model.teachers, model.teacher_checkpoints))  # type: ignore[arg-type]
