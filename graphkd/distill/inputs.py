"""Reading the tensor a preset relates out of a network's Responses."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from graphkd.responses import Responses


def embedding_of(responses: Responses, feature: Optional[str] = None) -> Tensor:
    """``(B, D)``: the pooled embedding, or tapped feature ``feature`` flattened.

    Raises a ``ValueError`` saying which tap to add when the tensor is missing.
    """
    if feature is None:
        if responses.embedding is None:
            raise ValueError(
                "this method relates embeddings but the responses carry none; tap the "
                "network's penultimate layer (graphkd.models.tap(model, embedding=...))"
            )
        return responses.embedding
    if feature not in responses.features:
        available = ", ".join(sorted(responses.features)) or "none"
        raise ValueError(
            f"feature {feature!r} is not among the tapped features ({available}); add it "
            "with graphkd.models.tap(model, features=[...])"
        )
    return responses.features[feature].flatten(1)
