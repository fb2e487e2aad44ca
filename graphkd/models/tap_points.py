"""The named modules a zoo model exposes to :func:`graphkd.models.tap`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class TapPoints:
    r"""Where to read a network's knowledge, as module names of ``model.named_modules()``.

    Every zoo model returns one from ``default_taps()``; any other ``nn.Module`` may define
    a ``default_taps()`` method returning one to get the same defaults from
    :func:`~graphkd.models.tap`. The outputs of these modules satisfy

    .. math::

        \mathrm{features}_i = \mathrm{ReLU}(\mathrm{preact\_features}_i),
        \qquad \mathrm{flatten}(\mathrm{embedding}) = \text{input of classifier}

    (for linear-bottleneck stages, MobileNetV2, both lists name the same modules).
    Networks whose blocks add and activate inside one forward, with one ReLU module called
    several times (torchvision's ResNets), name that ReLU and read its last input
    (``preact_from="last_input"``); networks without such a module leave
    ``preact_features`` empty.

    Parameters
    ----------
    embedding : str
        Module whose output (or input, see ``embedding_from``), flattened to ``(B, D)``,
        is the pooled penultimate feature.
    features : tuple of str
        Modules whose outputs are the stage outputs ``(B, C_i, H_i, W_i)`` after each
        stage's final activation, shallow to deep.
    preact_features : tuple of str
        Modules whose outputs are the same stage outputs before that activation.
    feature_map : str
        Module whose output is the last spatial map, the one the pooling averages into the
        embedding (used for class-activation maps).
    classifier : str
        The final ``nn.Linear``.
    embedding_from : {"output", "input"}, default "output"
        Which side of ``embedding`` to read: ``"input"`` for networks that pool with a
        function rather than a module (the embedding is then the classifier's input).
    preact_from : {"output", "last_input"}, default "output"
        How to read ``preact_features``: each module's output, or a copy of the input of
        its last call in a forward pass (taken before the module runs, so an in-place
        activation does not change it).

    Example
    -------
    >>> from graphkd.models import create_model
    >>> create_model("resnet8").default_taps().features
    ('layer1', 'layer2', 'layer3')
    """

    embedding: str
    features: Tuple[str, ...]
    preact_features: Tuple[str, ...]
    feature_map: str
    classifier: str
    embedding_from: str = "output"
    preact_from: str = "output"
