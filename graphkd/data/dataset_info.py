"""What a model and a trainer need to know about a dataset, and its standard transforms.

Image pipelines in :mod:`graphkd.data` share one convention: the dataset yields a PIL
image, :class:`~torchvision.transforms.PILToTensor` turns it into a ``uint8`` tensor
``(C, H, W)``, the augmentation (if any) acts on that tensor, and the result is scaled to
``[0, 1]`` and normalised per channel:

.. math::

    x' = \\frac{x / 255 - \\mu_c}{\\sigma_c}

Example
-------
>>> from PIL import Image
>>> info = DatasetInfo(
...     name="toy", num_classes=2, in_channels=1, image_size=4,
...     mean=(0.5,), std=(0.5,), crop_padding=1, train_size=10, test_size=5,
... )
>>> info.test_transform()(Image.new("L", (4, 4), color=255)).flatten().tolist()[:3]
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional, Tuple

import torch
from torchvision import transforms

from graphkd.data.ensemble_augmentation import AUGMENTATIONS, ensemble_augmentation
from graphkd.data.timm_augmentation import TimmAugmentation
from graphkd.data.views import weak_augmentation

#: The standard training crops a :class:`DatasetInfo` may name.
TRAIN_CROPS = ("padded", "resized")


@dataclass(frozen=True)
class DatasetInfo:
    """Shape, size and normalisation of an image classification dataset.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"cifar100"``.
    num_classes : int
        Number of classes; labels are ``0 .. num_classes - 1``.
    in_channels : int
        Image channels (1 for grey, 3 for RGB).
    image_size : int
        Side of the square images, in pixels.
    mean, std : tuple of float
        Per-channel mean and standard deviation of the training images in ``[0, 1]``,
        one value per channel.
    crop_padding : int
        Zero padding of the standard random-crop augmentation (``train_crop="padded"``).
    train_size, test_size : int
        Number of samples of the training and test splits.
    train_crop : {"padded", "resized"}, default "padded"
        The standard training crop: ``"padded"``, a random ``image_size`` crop after
        ``crop_padding`` pixels of zero padding (CIFAR, Fashion-MNIST); ``"resized"``, a
        random-resized crop (scale 0.08 to 1, aspect 3/4 to 4/3) resized to
        ``image_size`` (ImageNet). Either is followed by a horizontal flip.
    test_resize : int, optional
        Side the shorter image edge is resized to before the centre ``image_size`` crop of
        the evaluation transform (ImageNet: 256 for 224-pixel crops). ``None`` (default):
        the images already have ``image_size`` pixels and are only normalised.

    Example
    -------
    >>> info = DatasetInfo("toy", 2, 1, 4, (0.5,), (0.5,), 1, 10, 5)
    >>> info.normalize()
    Normalize(mean=(0.5,), std=(0.5,))
    """

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    crop_padding: int
    train_size: int
    test_size: int
    train_crop: str = "padded"
    test_resize: Optional[int] = None

    def __post_init__(self) -> None:
        if self.train_crop not in TRAIN_CROPS:
            raise ValueError(
                f"dataset {self.name!r}: train_crop must be one of {', '.join(TRAIN_CROPS)}, "
                f"got {self.train_crop!r}"
            )
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError(
                f"dataset {self.name!r}: mean {self.mean} and std {self.std} need one value "
                f"per channel ({self.in_channels}); give {self.in_channels} values each"
            )

    def normalize(self) -> transforms.Normalize:
        """Per-channel normalisation with this dataset's ``mean`` and ``std``."""
        return transforms.Normalize(self.mean, self.std)

    def transform(self, augmentation: Optional[Callable] = None) -> transforms.Compose:
        """PIL image -> ``uint8`` tensor -> ``augmentation`` -> float in [0, 1] -> normalise.

        Parameters
        ----------
        augmentation : callable, optional
            Acts on the ``uint8`` tensor ``(C, H, W)``, e.g. the builders of
            :mod:`graphkd.data.views`. ``None`` leaves the image as it is.

        Returns
        -------
        torchvision.transforms.Compose
            Maps a PIL image to a ``float32`` tensor ``(C, H, W)``.
        """
        steps = [transforms.PILToTensor()]
        if augmentation is not None:
            steps.append(augmentation)
        steps += [transforms.ConvertImageDtype(torch.float32), self.normalize()]
        return transforms.Compose(steps)

    def crop_augmentation(self) -> transforms.Compose:
        """The standard random crop (see ``train_crop``) and horizontal flip, on tensors."""
        if self.train_crop == "resized":
            return transforms.Compose(
                [
                    transforms.RandomResizedCrop(self.image_size, antialias=True),
                    transforms.RandomHorizontalFlip(),
                ]
            )
        return weak_augmentation(self.image_size, self.crop_padding)

    def train_transform(self, augmentation: str = "standard") -> Callable:
        """A training transform: by default random crop with padding and horizontal flip.

        Parameters
        ----------
        augmentation : {"standard", "weak", "strong", "timm"}, default "standard"
            ``"standard"``: :meth:`crop_augmentation`, the dataset's standard random crop
            and flip; ``"weak"`` / ``"strong"``: the teacher-ensemble study's
            :func:`~graphkd.data.ensemble_augmentation` of that strength; ``"timm"``:
            timm's training transform of Li et al.
            (:class:`~graphkd.data.TimmAugmentation`, bicubic random-resized crops of
            ``image_size``, normalised with this dataset's ``mean`` and ``std``; needs
            timm).
        """
        if augmentation not in AUGMENTATIONS:
            raise ValueError(
                f"unknown training augmentation {augmentation!r}; choose one of "
                f"{', '.join(AUGMENTATIONS)}"
            )
        if augmentation == "standard":
            return self.transform(self.crop_augmentation())
        if augmentation == "timm":
            return TimmAugmentation(self.image_size, self.mean, self.std)
        return self.transform(ensemble_augmentation(augmentation, self.image_size))

    def at_size(self, image_size: int) -> DatasetInfo:
        """This dataset with its images resized to ``image_size`` pixels (itself at its
        own size).

        The standard training crop becomes a random-resized crop to ``image_size``
        (``train_crop="resized"``) and evaluation resizes the images to it
        (``test_resize=image_size``); e.g. CIFAR-100 at 224 pixels for a vision
        transformer.

        Raises
        ------
        ValueError
            ``image_size`` is not a positive int; the message names ``data.image_size``.

        Example
        -------
        >>> info = DatasetInfo("toy", 2, 1, 4, (0.5,), (0.5,), 1, 10, 5)
        >>> large = info.at_size(8)
        >>> large.image_size, large.train_crop, large.test_resize
        (8, 'resized', 8)
        """
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(
                f"data.image_size must be a positive int (pixels), got {image_size!r}; e.g. "
                "--set data.image_size=224, or leave it unset for the dataset's own size"
            )
        if image_size == self.image_size:
            return self
        return replace(self, image_size=image_size, train_crop="resized", test_resize=image_size)

    def test_transform(self) -> transforms.Compose:
        """The standard evaluation transform: tensor conversion and normalisation, after a
        resize of the shorter edge to ``test_resize`` and a centre crop of ``image_size``
        when ``test_resize`` is set."""
        if self.test_resize is None:
            return self.transform(None)
        resize = transforms.Resize(self.test_resize, antialias=True)
        return self.transform(transforms.Compose([resize, transforms.CenterCrop(self.image_size)]))
