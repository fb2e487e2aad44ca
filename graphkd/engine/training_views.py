r"""What each network of a training run sees: the student's view, a virtual view, and
the teachers' own views.

One training image :math:`x` becomes

- the student's view :math:`T_s(x)`, :math:`T_s` from ``data.augmentation``;
- for methods with ``needs_virtual_view``, a virtual view :math:`T_v(x)` (random crop,
  flip and RandAugment with n = 2), seen by the student and by every teacher;
- for teacher :math:`k` with an entry in ``model.teacher_augmentations`` other than
  ``"student"``, its own draw :math:`T_k(x)` of that augmentation; the others see
  :math:`T_s(x)`.

A batch is then a tensor, a ``(real, virtual)`` pair (:class:`~graphkd.data.TwoViews`),
or an :class:`~graphkd.data.EnsembleSample` of either with the teachers' own views.

Example
-------
>>> from graphkd.data import dataset_info
>>> from graphkd.engine import load_config
>>> config = load_config("fashion_mnist", ["model.teacher_augmentations=[strong]"])
>>> transform, own_view = training_transform(config, dataset_info("fashion_mnist"), 1, False)
>>> type(transform).__name__, own_view
('EnsembleViews', [0])
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, List, Optional, Tuple

import torch
from torch import Tensor

from graphkd.data import AUGMENTATIONS, DatasetInfo, EnsembleSample, EnsembleViews
from graphkd.engine.config import Config
from graphkd.engine.method_setup import two_view_transform
from graphkd.models import TappedModel
from graphkd.responses import Responses

#: The ``model.teacher_augmentations`` entry of a teacher that sees the student's view.
STUDENT_VIEW = "student"


def check_augmentations(config: Config, num_teachers: int) -> None:
    """Raise a ``ValueError`` naming the key and the fix for an invalid view setting."""
    if config.data.augmentation not in AUGMENTATIONS:
        raise ValueError(
            f"data.augmentation must be one of {', '.join(AUGMENTATIONS)}, got "
            f"{config.data.augmentation!r}"
        )
    chosen = list(config.model.teacher_augmentations)
    if not chosen or not num_teachers:
        return
    valid = (STUDENT_VIEW, *AUGMENTATIONS)
    unknown = sorted({a for a in chosen if a not in valid})
    if unknown:
        raise ValueError(
            f"model.teacher_augmentations: unknown entries {unknown}; each is one of "
            f"{', '.join(valid)}"
        )
    if len(chosen) != num_teachers:
        raise ValueError(
            f"model.teacher_augmentations gives {len(chosen)} entries for {num_teachers} "
            f"teacher(s); give one per teacher ('{STUDENT_VIEW}' for the student's view)"
        )


def training_transform(
    config: Config, info: DatasetInfo, num_teachers: int, virtual: bool
) -> Tuple[Callable, List[Optional[int]]]:
    """The training set's transform, and where each teacher's own view sits in a batch.

    Parameters
    ----------
    config : Config
        Reads ``data.augmentation`` and ``model.teacher_augmentations``.
    info : DatasetInfo
        The training set's sizes and normalisation.
    num_teachers : int
        Teachers of the run (0 when training a teacher or the cross-entropy student).
    virtual : bool
        Add the virtual view (the method's ``needs_virtual_view``).

    Returns
    -------
    transform : callable
        PIL image -> the student's view, a ``(real, virtual)`` pair with ``virtual``, or an
        :class:`~graphkd.data.EnsembleSample` of that and the teachers' own views.
    own_view : list of int or None
        Per teacher: the index of its view in ``EnsembleSample.teachers``, or ``None`` when
        it sees the student's (real) view.
    """
    check_augmentations(config, num_teachers)
    transform: Callable = info.train_transform(config.data.augmentation)
    if virtual:
        transform = two_view_transform(info, transform)
    chosen = list(config.model.teacher_augmentations) if num_teachers else []
    own_view: List[Optional[int]] = [None] * num_teachers
    own_transforms = []
    for k, augmentation in enumerate(chosen):
        if augmentation != STUDENT_VIEW:
            own_view[k] = len(own_transforms)
            own_transforms.append(info.train_transform(augmentation))
    if own_transforms:
        transform = EnsembleViews(transform, own_transforms)
    return transform, own_view


def split_views(images: Any, device: torch.device) -> Tuple[Tensor, Optional[Tensor], List[Tensor]]:
    """A batch's student view, virtual view (or ``None``) and teachers' own views, on
    ``device``."""
    own: List[Tensor] = []
    if isinstance(images, EnsembleSample):
        own = [view.to(device) for view in images.teachers]
        images = images.student
    if isinstance(images, (list, tuple)):
        real, virtual = images
        return real.to(device), virtual.to(device), own
    return images.to(device), None, own


def teacher_inputs(real: Tensor, own: List[Tensor], own_view: List[Optional[int]]) -> List[Tensor]:
    """Each teacher's input batch: its own view, or the student's ``real`` one."""
    return [real if index is None else own[index] for index in own_view]


def teacher_responses(
    model: TappedModel,
    images: Tensor,
    virtual: Optional[Tensor],
    one_pass: Optional[bool] = None,
) -> Responses:
    """A frozen teacher's responses to ``images`` ``(B, ...)`` and, when given, to their
    ``virtual`` view (``Responses.virtual``).

    In eval mode every sample's output depends on that sample alone, so both views may go
    through the network as one batch of ``2B`` with the same responses. That saves kernel
    launches on a GPU; on a CPU a batch of ``2B`` runs slower than two of ``B``
    (resnet32x4 at B = 64: 1.3x, the activations outgrow the caches), so by default
    (``one_pass=None``) only CUDA tensors take one pass. A model in training mode always
    sees each view as a batch of its own.
    """
    if virtual is None:
        return model(images)
    if one_pass is None:
        one_pass = images.device.type == "cuda"
    if model.training or not one_pass:
        return dataclasses.replace(model(images), virtual=model(virtual))
    both = model(torch.cat([images, virtual]))
    size = images.shape[0]
    real = both.map(lambda x: x[:size])
    return dataclasses.replace(real, virtual=both.map(lambda x: x[size:]))
