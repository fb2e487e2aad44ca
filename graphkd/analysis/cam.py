"""Class-activation maps (Zhou et al., CVPR 2016) summed over all classes."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.models import TappedModel
from graphkd.models.known_taps import known_tap_points
from graphkd.models.tap import _unwrap

_NEEDS = (
    "CAM needs the last spatial feature map (B, K, h, w) and a final nn.Linear classifier "
    "(C, K) applied to its global average pool"
)


def _default_names(network: nn.Module) -> Tuple[Optional[str], Optional[str]]:
    """``default_taps()`` feature map and classifier (torchvision's and timm's known tap
    points; else the last ``nn.Linear``), named as in ``network.named_modules()`` (wrapper
    prefixes included)."""
    inner, prefix = _unwrap(network)
    declare = getattr(inner, "default_taps", None)
    taps = declare() if callable(declare) else known_tap_points(inner)
    if taps is not None:
        return prefix + taps.feature_map, prefix + taps.classifier
    linears = [n for n, m in inner.named_modules() if isinstance(m, nn.Linear)]
    return None, (prefix + linears[-1]) if linears else None


class _Capture:
    """Forward hook keeping the last output of one module."""

    def __init__(self) -> None:
        self.outputs: List[Any] = []

    def __call__(self, module: nn.Module, args: Tuple[Any, ...], output: Any) -> None:
        self.outputs.append(output)


@torch.no_grad()
def cam(
    model: nn.Module,
    images: Tensor,
    feature_map: Optional[str] = None,
    classifier: Optional[str] = None,
) -> Tensor:
    r"""Class-activation maps of ``images``, summed over all classes, one per image.

    With the last feature map :math:`A \in \mathbb{R}^{K \times h \times w}` of an image
    and the classifier weights :math:`W \in \mathbb{R}^{C \times K}` (logits
    :math:`z = W\,\mathrm{GAP}(A) + b`), the map of class :math:`c` is
    :math:`M_c = \sum_k W_{ck} A_k`; the maps of all classes are summed, bilinearly
    upsampled to the input size (``align_corners=False``) and min-max normalised per image:

    .. math::
        M = \mathrm{up}\Big(\sum_{c=1}^{C} \sum_{k=1}^{K} W_{ck} A_k\Big), \qquad
        \tilde M = \frac{M - \min M}{\max M - \min M}

    (a constant map becomes all zeros). The model runs in eval mode without gradients;
    its training flag is restored afterwards.

    Parameters
    ----------
    model : nn.Module
        A :class:`~graphkd.models.TappedModel` or a network (also inside
        ``DataParallel``/``DistributedDataParallel``/``torch.compile``).
    images : Tensor
        ``(B, C_in, H, W)`` model inputs.
    feature_map : str, optional
        Module whose output is the last spatial map ``(B, K, h, w)``. Default: the
        model's ``default_taps().feature_map`` (every zoo model declares it; torchvision
        ResNets and MobileNetV2 and timm networks have known tap points).
    classifier : str, optional
        The final ``nn.Linear``. Default: ``default_taps().classifier``, else the last
        ``nn.Linear`` of the model.

    Returns
    -------
    Tensor
        ``(B, H, W)`` maps in ``[0, 1]``, on the images' device.

    Raises
    ------
    ValueError
        When the classifier is not an ``nn.Linear``, the feature map cannot be found or
        is not ``(B, K, h, w)``, or ``K`` differs from the classifier's input width.

    Example
    -------
    >>> import torch
    >>> from graphkd.models import create_model, tap
    >>> net = tap(create_model("resnet8", num_classes=10, in_channels=1, input_size=28))
    >>> maps = cam(net, torch.randn(2, 1, 28, 28))
    >>> maps.shape, float(maps.amin()), float(maps.amax())
    (torch.Size([2, 28, 28]), 0.0, 1.0)
    """
    if images.dim() != 4:
        raise ValueError(f"cam needs images (B, C, H, W), got shape {tuple(images.shape)}")
    network = model.model if isinstance(model, TappedModel) else model
    modules: Dict[str, nn.Module] = dict(network.named_modules())
    default_map, default_classifier = _default_names(network)
    feature_map = default_map if feature_map is None else feature_map
    classifier = default_classifier if classifier is None else classifier
    if classifier is None or classifier not in modules:
        raise ValueError(
            f"{_NEEDS}; {type(network).__name__} has no classifier module "
            f"{classifier!r}; pass classifier='<name of the final nn.Linear>'"
        )
    linear = modules[classifier]
    if not isinstance(linear, nn.Linear):
        raise ValueError(
            f"{_NEEDS}; module {classifier!r} of {type(network).__name__} is a "
            f"{type(linear).__name__}, not an nn.Linear; pass classifier='<name of the final "
            "nn.Linear>' (models whose head is not linear have no class-activation map)"
        )
    if feature_map is None or feature_map not in modules:
        raise ValueError(
            f"{_NEEDS}; {type(network).__name__} declares no default_taps() and has no module "
            f"{feature_map!r}; pass feature_map='<module giving the last spatial map>'"
        )
    capture = _Capture()
    handle = modules[feature_map].register_forward_hook(capture)
    was_training = network.training
    network.eval()
    try:
        network(images)
    finally:
        handle.remove()
        network.train(was_training)
    if len(capture.outputs) != 1 or not isinstance(capture.outputs[0], Tensor):
        raise ValueError(
            f"{_NEEDS}; module {feature_map!r} ran {len(capture.outputs)} times or returned no "
            "tensor in one forward pass; name a module that runs once and returns the map"
        )
    maps = capture.outputs[0]
    weight = linear.weight
    if maps.dim() != 4 or maps.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{_NEEDS}; module {feature_map!r} gives shape {tuple(maps.shape)} but classifier "
            f"{classifier!r} takes {weight.shape[1]} features; name the map the classifier's "
            "pooling reads"
        )
    summed = torch.einsum("k,bkhw->bhw", weight.sum(0).to(maps.dtype), maps)
    upsampled = F.interpolate(
        summed[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False
    )[:, 0]
    low = upsampled.amin(dim=(1, 2), keepdim=True)
    span = upsampled.amax(dim=(1, 2), keepdim=True) - low
    safe = torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, (upsampled - low) / safe, torch.zeros_like(upsampled))
