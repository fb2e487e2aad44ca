r"""The augmentations of the teacher-ensemble study: light, weak and strong.

All act on ``uint8`` image tensors ``(C, H, W)`` (graphkd's convention, see
:mod:`graphkd.data.views`) and draw from the global torch generator. As in the study's
reference implementation (CIFAR data loaders):

- light: random-resized crop only, area 0.2-1, bicubic (the reference point of
  :func:`graphkd.analysis.affinity`);
- weak: light, horizontal flip, rotation by up to 15 degrees;
- strong: light, horizontal flip, AutoAugment (CIFAR-10 policy, grey fill 128) and
  Cutout of 16 px; no rotation.

.. math::
    T_{\text{weak}} = \mathrm{Rot}_{\pm 15^\circ} \circ \mathrm{Flip} \circ \mathrm{RRC},
    \qquad
    T_{\text{strong}} = \mathrm{Cutout}_{16} \circ \mathrm{AutoAugment}
        \circ \mathrm{Flip} \circ \mathrm{RRC}

Example
-------
>>> import torch
>>> image = torch.zeros(1, 28, 28, dtype=torch.uint8)
>>> ensemble_augmentation("strong", 28)(image).shape
torch.Size([1, 28, 28])
"""

from __future__ import annotations

from typing import Tuple

from torchvision import transforms

from graphkd.data.views import auto_augment_cutout

#: The augmentation strengths of :func:`ensemble_augmentation`.
STRENGTHS = ("weak", "strong")

#: The training augmentations of :meth:`graphkd.data.DatasetInfo.train_transform`: the
#: dataset's standard random crop and flip, a strength of :func:`ensemble_augmentation`, or
#: timm's training transform (:class:`~graphkd.data.TimmAugmentation`).
AUGMENTATIONS = ("standard", *STRENGTHS, "timm")

#: Area range of the study's random-resized crops.
CROP_SCALE = (0.2, 1.0)


def light_augmentation(
    size: int, scale: Tuple[float, float] = CROP_SCALE
) -> transforms.RandomResizedCrop:
    """Random-resized crop of side ``size``, bicubic.

    Parameters
    ----------
    size : int
        Output side in pixels.
    scale : (float, float), default (0.2, 1.0)
        Range of the cropped area as a fraction of the image; the aspect ratio ranges
        over torchvision's default 3/4 .. 4/3. ``(0.08, 1.0)`` is torchvision's default.

    Example
    -------
    >>> import torch
    >>> light_augmentation(32)(torch.zeros(3, 32, 32, dtype=torch.uint8)).shape
    torch.Size([3, 32, 32])
    """
    if size < 1:
        raise ValueError(f"light_augmentation needs size >= 1, got {size}; pass the image side")
    bicubic = transforms.InterpolationMode.BICUBIC
    return transforms.RandomResizedCrop(size, scale=scale, interpolation=bicubic, antialias=True)


def ensemble_augmentation(
    strength: str,
    size: int,
    rotation: float = 15.0,
    cutout: int = 16,
    scale: Tuple[float, float] = CROP_SCALE,
    fill: int = 128,
) -> transforms.Compose:
    """The weak or strong augmentation a teacher of the ensemble study was trained with.

    Parameters
    ----------
    strength : {"weak", "strong"}
        ``"weak"``: random-resized crop, flip, rotation; ``"strong"``: random-resized
        crop, flip, AutoAugment and Cutout.
    size : int
        Image side in pixels.
    rotation : float, default 15
        Largest rotation in degrees (weak only).
    cutout : int, default 16
        Side of the Cutout square (strong only).
    scale : (float, float), default (0.2, 1.0)
        Area range of the random-resized crop (see :func:`light_augmentation`).
    fill : int, default 128
        AutoAugment's fill value for uncovered pixels (strong only).

    Example
    -------
    >>> [type(t).__name__ for t in ensemble_augmentation("weak", 32).transforms]
    ['RandomResizedCrop', 'RandomHorizontalFlip', 'RandomRotation']
    """
    if strength not in STRENGTHS:
        raise ValueError(
            f"unknown augmentation strength {strength!r}; choose one of {', '.join(STRENGTHS)}"
        )
    steps = [light_augmentation(size, scale), transforms.RandomHorizontalFlip()]
    if strength == "weak":
        steps.append(transforms.RandomRotation(rotation))
    else:
        steps.append(auto_augment_cutout(cutout, fill))
    return transforms.Compose(steps)
