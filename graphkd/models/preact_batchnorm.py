"""The batch norm behind each tapped feature: where a feature's pre-activation statistics live.

A batch norm's affine parameters say how its output is distributed before the activation
that follows: per channel, roughly :math:`\\mathcal{N}(\\beta, \\gamma^2)`. OFD derives its
margins from them. :func:`preact_batchnorms` finds, for every tapped feature of a
:class:`~graphkd.models.TappedModel`, the batch norm that produces it, by running the
network once and watching the order in which modules finish:

- the tapped module itself when it is a batch norm (WRN's ``bn1`` pre-activation taps);
- otherwise the last batch norm with as many channels as the feature that finished
  before the tapped module did (before its last call started, for taps that read a
  module's input), skipping shortcut branches (modules on a path through a
  module named ``downsample`` or ``shortcut``): for a residual block that is the main
  branch's last batch norm (``bn2`` of a basic block, ``bn3`` of a bottleneck), for a
  VGG block its last batch norm, for a linear bottleneck its projection's batch norm.

These are the batch norms the reference implementations name per network
(mdistiller's and RepDistiller's ``get_bn_before_relu``).

Example
-------
>>> from graphkd.models import create_model, tap
>>> tapped = tap(create_model("resnet8"), preact=True)
>>> sorted(preact_batchnorms(tapped, torch.zeros(2, 3, 32, 32)).items())[0]
('layer1.0.merge', 'layer1.0.bn2')
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .tap import TappedModel

_SHORTCUTS = ("downsample", "shortcut")


def _on_shortcut(name: str) -> bool:
    return any(part in _SHORTCUTS for part in name.split("."))


@torch.no_grad()
def preact_batchnorms(tapped: TappedModel, *inputs: Any) -> Dict[str, str]:
    """``{tapped feature: name of the batch norm producing it}`` (names of
    ``tapped.model.named_modules()``), found by one forward pass of ``inputs`` in eval
    mode (see the module's description). Features with no such batch norm are left out.
    """
    modules = dict(tapped.model.named_modules())
    finished: List[Tuple[str, str, int]] = []  # (kind, name, channels) in finishing order
    handles = []

    def recorder(kind: str, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            channels = output.shape[1] if isinstance(output, Tensor) and output.dim() > 1 else -1
            finished.append((kind, name, channels))

        return hook

    for name, module in modules.items():
        if isinstance(module, _BatchNorm):
            handles.append(module.register_forward_hook(recorder("bn", name)))
    for name in tapped.features:
        if tapped.features_from == "last_input":  # the feature is the module's input
            record = recorder("feature", name)
            hook = modules[name].register_forward_pre_hook(
                lambda module, args, record=record: record(module, args, args[0] if args else None)
            )
        else:
            hook = modules[name].register_forward_hook(recorder("feature", name))
        handles.append(hook)
    was_training = tapped.training
    tapped.eval()
    try:
        tapped.model(*inputs)
    finally:
        tapped.train(was_training)
        for handle in handles:
            handle.remove()
    found: Dict[str, str] = {}
    seen: List[Tuple[str, int]] = []
    for kind, name, channels in finished:
        if kind == "bn":
            seen.append((name, channels))
            continue
        if isinstance(modules[name], _BatchNorm):
            found[name] = name
            continue
        for bn_name, bn_channels in reversed(seen):
            if bn_channels == channels and not _on_shortcut(bn_name):
                found[name] = bn_name
                break
    return found


def preact_batchnorm_affine(tapped: TappedModel, *inputs: Any) -> Dict[str, Tuple[Tensor, Tensor]]:
    """``{tapped feature: (gamma, beta)}``, detached copies of the affine parameters
    ``(C,)`` of the batch norm producing each tapped feature (:func:`preact_batchnorms`;
    ones and zeros for a batch norm without affine parameters).

    Example
    -------
    >>> from graphkd.models import create_model, tap
    >>> tapped = tap(create_model("resnet8"), preact=True)
    >>> gamma, beta = preact_batchnorm_affine(tapped, torch.zeros(2, 3, 32, 32))["layer3.0.merge"]
    >>> gamma.shape, beta.shape
    (torch.Size([64]), torch.Size([64]))
    """
    modules = dict(tapped.model.named_modules())
    affine = {}
    for feature, name in preact_batchnorms(tapped, *inputs).items():
        bn = modules[name]
        assert isinstance(bn, _BatchNorm)
        reference = bn.running_mean if bn.running_mean is not None else bn.weight
        ones = torch.ones(
            bn.num_features, device=reference.device if reference is not None else None
        )
        gamma = bn.weight.detach().clone() if bn.weight is not None else ones
        beta = bn.bias.detach().clone() if bn.bias is not None else torch.zeros_like(ones)
        affine[feature] = (gamma, beta)
    return affine
