"""Tap points of network families graphkd knows without a ``default_taps()``: torchvision
ResNets (and ResNeXts, wide ResNets), torchvision MobileNetV2, and any timm model.

Stage outputs are the last module of each resolution, shallow to deep, as in the zoo:

- torchvision ``ResNet``: ``layer1`` .. ``layer4``; embedding = ``avgpool``'s output;
  before their activation: the last input of each stage's last block's ``relu`` (the
  block adds its shortcut, then calls that ReLU a last time);
- torchvision ``MobileNetV2``: ``features.1``, ``.3``, ``.6``, ``.13``, ``.18`` (strides
  2, 4, 8, 16, 32); it pools with a function, so the embedding is the input of
  ``classifier.0`` (the dropout before the last ``nn.Linear``); before their activation:
  the inputs of ``features.2``, ``.4``, ``.7``, ``.14`` (linear bottlenecks: the same
  maps) and of ``features.18.2``, the last stage's in-place ReLU6;
- timm: the modules of ``model.feature_info`` (timm's own list of stage outputs);
  embedding = the input of ``model.get_classifier()``.

Example
-------
>>> import torchvision
>>> known_tap_points(torchvision.models.resnet18()).features
('layer1', 'layer2', 'layer3', 'layer4')
>>> known_tap_points(torchvision.models.mobilenet_v2()).embedding_from
'input'
"""

from __future__ import annotations

from typing import Optional

from torch import nn
from torchvision import models as tv_models

from .tap_points import TapPoints

_MOBILENET_V2_STAGES = ("features.1", "features.3", "features.6", "features.13", "features.18")


def known_tap_points(model: nn.Module) -> Optional[TapPoints]:
    """The :class:`TapPoints` of ``model``'s family, or ``None`` for an unknown family.

    ``preact_features`` is empty but for torchvision's ResNets and MobileNetV2 (read with
    ``preact_from="last_input"``): timm networks have no module that outputs a stage
    before its final activation.
    """
    if isinstance(model, tv_models.ResNet):
        stages = ("layer1", "layer2", "layer3", "layer4")
        last = [len(model.get_submodule(stage)) - 1 for stage in stages]
        preact = tuple(f"{stage}.{k}.relu" for stage, k in zip(stages, last))
        return TapPoints("avgpool", stages, preact, "layer4", "fc", preact_from="last_input")
    if isinstance(model, tv_models.MobileNetV2):
        stages = _MOBILENET_V2_STAGES
        preact = ("features.2", "features.4", "features.7", "features.14", "features.18.2")
        return TapPoints(
            "classifier.0", stages, preact, stages[-1], "classifier.1", "input", "last_input"
        )
    if type(model).__module__.startswith("timm.") and hasattr(model, "feature_info"):
        return _timm_tap_points(model)
    return None


def _timm_tap_points(model: nn.Module) -> Optional[TapPoints]:
    modules = dict(model.named_modules())
    classifier = model.get_classifier()  # type: ignore[operator]
    names = [name for name, module in modules.items() if module is classifier]
    stages = tuple(info["module"] for info in model.feature_info)  # type: ignore[union-attr]
    if not names or not stages or any(name not in modules for name in stages):
        return None
    return TapPoints(names[0], stages, (), stages[-1], names[0], "input")
