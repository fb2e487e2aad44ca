"""Affinity of an augmentation: how much of a model's accuracy survives it."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from graphkd.analysis._evaluation import accuracy
from graphkd.data import light_augmentation


def _per_image(augmentation: Callable, preprocess: Callable) -> Callable:
    def apply(images: Tensor) -> Tensor:
        return preprocess(torch.stack([augmentation(image) for image in images]))

    return apply


def _light_crop(image: Tensor) -> Tensor:
    return light_augmentation(int(image.shape[-1]))(image)


def _to_unit(images: Tensor) -> Tensor:
    return images.float() / 255.0 if images.dtype == torch.uint8 else images


def affinity(
    model: nn.Module,
    augmentation: Callable[[Tensor], Tensor],
    loader: Any,
    light: Optional[Callable[[Tensor], Tensor]] = None,
    preprocess: Optional[Callable[[Tensor], Tensor]] = None,
    device: Optional[torch.device] = None,
) -> float:
    r"""Accuracy on augmented validation images relative to lightly augmented ones.

    .. math::
        \mathrm{affinity}(T) = \frac{\mathrm{acc}\big(f, T(\mathcal{D}_{val})\big)}
            {\mathrm{acc}\big(f, T_{\text{light}}(\mathcal{D}_{val})\big)}

    where :math:`T_{\text{light}}` is a random-resized crop only
    (:func:`~graphkd.data.light_augmentation`). Values near 1 mean the augmented images
    stay in the distribution the model handles. Each image is augmented on its own (fresh random
    parameters per image) from the global torch generator.

    Parameters
    ----------
    model : nn.Module
        A network or :class:`~graphkd.models.TappedModel`, evaluated in eval mode.
    augmentation : callable
        Acts on one image ``(C, H, W)`` of the loader (``uint8`` for the graphkd
        augmentations, e.g. :func:`~graphkd.data.ensemble_augmentation`).
    loader : iterable
        Yields ``(images (B, C, H, W), labels (B,), ...)``, images *before*
        normalisation, e.g. a dataset built with ``transform=PILToTensor()``.
    light : callable, optional
        The reference augmentation; default the random-resized crop to the image side.
    preprocess : callable, optional
        Maps an augmented batch to model inputs, e.g. scaling and normalisation. Default:
        ``uint8`` images divided by 255, others unchanged.
    device : torch.device, optional
        Where the model runs; default the device of its parameters.

    Returns
    -------
    float
        The ratio of the two accuracies.

    Raises
    ------
    ValueError
        An empty loader, or zero accuracy on the lightly augmented images.

    Example
    -------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from graphkd.models import create_model
    >>> net = create_model("resnet8", num_classes=2, in_channels=1, input_size=8)
    >>> images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    >>> labels = net(images.float().div(255)).argmax(1)
    >>> loader = DataLoader(TensorDataset(images, labels), batch_size=2)
    >>> same = lambda image: image
    >>> affinity(net, same, loader, light=same)
    1.0
    """
    preprocess = _to_unit if preprocess is None else preprocess
    light = _light_crop if light is None else light
    reference = accuracy(model, loader, _per_image(light, preprocess), device)
    if reference == 0:
        raise ValueError(
            "the model classifies no lightly augmented image correctly, so the affinity "
            "ratio is undefined; evaluate a trained model or a larger validation set"
        )
    augmented = accuracy(model, loader, _per_image(augmentation, preprocess), device)
    return augmented / reference
