"""What the trainer tells a method when it creates it, and what it reads back.

A preset's factory may name any of the values :func:`known_values` gathers
(``num_samples``, ``num_classes``, ``labels``, ``teacher_dim``, ``student_dim``,
``teacher_channels``, ``student_channels``, ``teacher_shapes``, ``student_shapes``,
``teacher_bn``: each tapped teacher feature's batch-norm ``(gamma, beta)``, see
:func:`~graphkd.models.preact_batchnorm.preact_batchnorm_affine`); the trainer passes
exactly those it names. A factory with a ``preact`` option that is on gets pre-activation
taps (:func:`preact_taps`).
Back from the distiller it reads the :class:`~graphkd.distill.Distiller` contract:
``needs_virtual_view`` / ``ce_on_virtual_view`` (a second, RandAugment view of every
image), ``stages()`` (distiller-only stages before the student's), ``after_step``
(updates after each optimiser step) and ``combine_gradients`` (a method's own way of
adding its gradient to the student's).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset
from torchvision import transforms

from graphkd.data import DatasetInfo, TwoViews, rand_augment
from graphkd.distill import Distiller
from graphkd.distill.method_registry import METHODS
from graphkd.distill.methods import import_method, list_methods
from graphkd.distill.stage import STUDENT_STAGE, Stage
from graphkd.models import TappedModel
from graphkd.models.preact_batchnorm import preact_batchnorm_affine


def dataset_labels(dataset: Dataset) -> Tensor:
    """``(N,)`` labels of every sample of ``dataset`` (a dataset with ``targets`` or a Subset)."""
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[torch.as_tensor(dataset.indices)]
    if not hasattr(dataset, "targets"):
        raise ValueError(
            f"{type(dataset).__name__} has no 'targets'; methods that sample by class need "
            "the training labels"
        )
    return torch.as_tensor(dataset.targets).long()


@torch.no_grad()
def probe_widths(
    model: TappedModel, info: DatasetInfo, device: torch.device, role: str
) -> Dict[str, Any]:
    """``{role}_dim`` (embedding width), ``{role}_channels`` (tapped feature channels) and
    ``{role}_shapes`` (each tapped feature's ``(C, H, W)`` at the dataset's image size)."""
    was_training = model.training
    model.eval()
    sample = torch.zeros(2, info.in_channels, info.image_size, info.image_size, device=device)
    responses = model(sample)
    model.train(was_training)
    widths: Dict[str, Any] = {
        f"{role}_channels": {k: v.shape[1] for k, v in responses.features.items()},
        f"{role}_shapes": {k: tuple(v.shape[1:]) for k, v in responses.features.items()},
    }
    if responses.embedding is not None:
        widths[f"{role}_dim"] = responses.embedding.shape[1]
    return widths


def known_values(
    train_set: Dataset,
    info: DatasetInfo,
    student: TappedModel,
    teacher: Optional[TappedModel],
    device: torch.device,
) -> Dict[str, Any]:
    """Everything the trainer can tell a method's factory."""
    values: Dict[str, Any] = {
        "num_samples": len(train_set),  # type: ignore[arg-type]
        "num_classes": info.num_classes,
        "labels": dataset_labels(train_set).to(device),
    }
    values.update(probe_widths(student, info, device, "student"))
    if teacher is not None:
        values.update(probe_widths(teacher, info, device, "teacher"))
        sample = torch.zeros(2, info.in_channels, info.image_size, info.image_size, device=device)
        values["teacher_bn"] = preact_batchnorm_affine(teacher, sample)
    return values


def preact_taps(name: str, options: Dict[str, Any]) -> bool:
    """Whether method ``name`` reads the stage outputs *before* their final activation:
    its factory takes a ``preact`` option and it is on (as configured in ``options``, else
    the factory's default). The trainer then taps the student and the teachers with
    :func:`graphkd.models.tap` ``(model, preact=True)``, and the channel and shape values
    it passes name those taps."""
    if name not in list_methods():
        return False
    parameter = inspect.signature(METHODS.get(import_method(name))).parameters.get("preact")
    if parameter is None:
        return False
    return bool(options.get("preact", parameter.default))


def needs_virtual_view(distiller: Optional[Distiller]) -> bool:
    """Whether the method sees a second, virtual view of every image."""
    return distiller is not None and distiller.needs_virtual_view


def two_view_transform(info: DatasetInfo, real: Optional[Callable] = None) -> TwoViews:
    """Real view: ``real`` (default the standard training transform); virtual: the
    dataset's standard random crop and flip (:meth:`DatasetInfo.crop_augmentation`) plus
    RandAugment(n=2)."""
    virtual = info.transform(transforms.Compose([info.crop_augmentation(), rand_augment(n=2)]))
    return TwoViews(info.train_transform() if real is None else real, virtual)


def method_stages(distiller: Optional[Distiller]) -> List[Stage]:
    """The method's stages; the student's stage last (its epochs come from the config)."""
    stages = [STUDENT_STAGE] if distiller is None else list(distiller.stages())
    if not stages or stages[-1].trains != "student":
        raise ValueError("a method's stages() must end with the stage that trains the student")
    for stage in stages[:-1]:
        if stage.trains != "distiller" or not stage.epochs:
            raise ValueError(
                f"stage {stage.name!r}: only the last stage may train the student, and earlier "
                "stages need a number of epochs"
            )
    return stages
