"""Reading the tensor a preset relates out of a network's Responses."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
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


def embedding_of_width(responses: Responses, width: int, built: str) -> Tensor:
    """``(B, width)``: the pooled embedding read by a module built for that width.

    A ``ValueError`` names ``built`` (``"this CRD head"``) when the width differs.
    """
    features = embedding_of(responses)
    if features.shape[1] != width:
        raise ValueError(
            f"the embedding has width {features.shape[1]} but {built} was built for width "
            f"{width}; pass teacher_dim / student_dim = the networks' penultimate widths"
        )
    return features


def tapped_feature(responses: Responses, name: str, who: str, fix: str) -> Tensor:
    """The tapped feature ``name`` of ``responses``.

    When it is missing, the ``ValueError`` names ``who`` (``"teacher"``/``"student"``),
    the tapped features, and ends with ``fix``.

    Example
    -------
    >>> import torch
    >>> r = Responses(torch.zeros(2, 3), features={"layer1": torch.zeros(2, 4, 8, 8)})
    >>> tapped_feature(r, "layer2", "student", "tap it")
    Traceback (most recent call last):
    ...
    ValueError: the student's responses carry no feature 'layer2' (tapped: layer1); tap it
    """
    if name not in responses.features:
        tapped = ", ".join(responses.features) or "none"
        raise ValueError(
            f"the {who}'s responses carry no feature {name!r} (tapped: {tapped}); {fix}"
        )
    return responses.features[name]


def shaped_feature(
    responses: Responses, name: str, shape: Sequence[int], who: str, method: str
) -> Tensor:
    """The tapped feature ``name`` of ``responses`` (:func:`tapped_feature`), checked to be
    ``(B, *shape)``.

    ``who`` and ``method`` (the preset's name) word the ``ValueError`` raised when the map
    is missing or of another shape than ``{who}_shapes`` gives it.

    Example
    -------
    >>> import torch
    >>> r = Responses(torch.zeros(2, 3), features={"layer1": torch.zeros(2, 4, 8, 8)})
    >>> tuple(shaped_feature(r, "layer1", (4, 8, 8), "student", "fitnet").shape)
    (2, 4, 8, 8)
    """
    fix = (
        f"{method} reads tapped stage outputs: tap them with graphkd.models.tap(model, "
        f"features=[...]) and list them in {who}_shapes"
    )
    feature = tapped_feature(responses, name, who, fix)
    if tuple(feature.shape[1:]) != tuple(shape):
        raise ValueError(
            f"the {who}'s feature {name!r} has shape {tuple(feature.shape)} but "
            f"{who}_shapes gives it {tuple(shape)}; pass the (C, H, W) of the tapped maps "
            "at the training image size"
        )
    return feature


def stage_maps(
    responses: Responses, names: Optional[Sequence[str]], who: str, method: str
) -> List[Tensor]:
    """The ``(B, C, H, W)`` tapped feature maps ``names`` (shallow to deep), or every
    tapped feature in tap order when ``names`` is ``None``.

    ``who`` (``"teacher"``/``"student"``) and ``method`` (the preset's name) only word the
    ``ValueError`` raised when a map is missing or not 4-D.

    Example
    -------
    >>> import torch
    >>> r = Responses(torch.zeros(2, 3), features={"layer1": torch.zeros(2, 4, 8, 8)})
    >>> [tuple(m.shape) for m in stage_maps(r, None, "student", "at")]
    [(2, 4, 8, 8)]
    """
    if names is None:
        names = list(responses.features)
        if not names:
            raise ValueError(
                f"{method} reads the {who}'s stage outputs but its responses carry no tapped "
                "features; tap them with graphkd.models.tap(model) (zoo models tap their "
                "stage outputs by default)"
            )
    maps = []
    fix = (
        "tap it with graphkd.models.tap(model, features=[...]) or name tapped ones in "
        f"{method}'s {who}_features"
    )
    for name in names:
        feature = tapped_feature(responses, name, who, fix)
        if feature.dim() != 4:
            raise ValueError(
                f"{method} reads (B, C, H, W) feature maps, but the {who}'s feature {name!r} "
                f"has shape {tuple(feature.shape)}; name convolutional stage outputs in "
                f"{who}_features"
            )
        maps.append(feature)
    return maps


def pool_to_smaller(student: Tensor, teacher: Tensor) -> Tuple[Tensor, Tensor]:
    """Student and teacher maps brought to one spatial size: the one with the greater
    height is average-pooled (``adaptive_avg_pool2d``) to the other's ``(H, W)``; maps of
    equal height are returned as they are (the rule of mdistiller's AT and NST).

    Example
    -------
    >>> import torch
    >>> s, t = pool_to_smaller(torch.ones(2, 4, 8, 8), torch.ones(2, 6, 4, 4))
    >>> tuple(s.shape), tuple(t.shape)
    ((2, 4, 4, 4), (2, 6, 4, 4))
    """
    if student.shape[2] > teacher.shape[2]:
        student = F.adaptive_avg_pool2d(student, (teacher.shape[2], teacher.shape[3]))
    elif student.shape[2] < teacher.shape[2]:
        teacher = F.adaptive_avg_pool2d(teacher, (student.shape[2], student.shape[3]))
    return student, teacher
