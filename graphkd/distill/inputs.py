"""Reading the tensor a preset relates out of a network's Responses."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from graphkd.responses import Responses

#: ``feature`` value naming the deepest tapped feature map: the last entry of
#: ``Responses.features`` (the last stage's output for the default taps of zoo models).
LAST_STAGE = "last_stage"


def embedding_of(responses: Responses, feature: Optional[str] = None) -> Tensor:
    """``(B, D)``: the pooled embedding, or a tapped feature flattened.

    Parameters
    ----------
    responses : Responses
        One network's outputs.
    feature : str, optional
        ``None``: the pooled embedding; :data:`LAST_STAGE`: the last tapped feature map
        (``(B, C, H, W)`` flattened to ``(B, C H W)``); any other string: the tapped
        feature of that name, flattened.

    Raises a ``ValueError`` saying which tap to add when the tensor is missing.
    """
    if feature is None:
        if responses.embedding is None:
            raise ValueError(
                "this method relates embeddings but the responses carry none; tap the "
                "network's penultimate layer (graphkd.models.tap(model, embedding=...))"
            )
        return responses.embedding
    if feature == LAST_STAGE:
        if not responses.features:
            raise ValueError(
                "this method reads the last stage's feature map but the responses carry no "
                "tapped features; tap the stage outputs (graphkd.models.tap(model) does for "
                "zoo models) or pass feature=None to use the pooled embedding"
            )
        return list(responses.features.values())[-1].flatten(1)
    if feature not in responses.features:
        available = ", ".join(sorted(responses.features)) or "none"
        raise ValueError(
            f"feature {feature!r} is not among the tapped features ({available}); add it "
            "with graphkd.models.tap(model, features=[...])"
        )
    return responses.features[feature].flatten(1)
