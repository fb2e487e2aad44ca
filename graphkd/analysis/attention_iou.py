"""Intersection over union of two models' thresholded attention maps."""

from __future__ import annotations

from graphkd.analysis._evaluation import Batches, as_batches

#: The threshold of the reference protocol for min-max normalised maps.
DEFAULT_THRESHOLD = 0.4


def attention_iou(maps_a: Batches, maps_b: Batches, threshold: float = DEFAULT_THRESHOLD) -> float:
    r"""IoU of the regions where two models attend, e.g. of their :func:`cam` maps.

    A map's region is :math:`R = \{x : \tilde M(x) \ge \theta\}`. For one batch of
    :math:`B` image pairs the IoU pools intersections and unions over the batch:

    .. math::
        \mathrm{IoU} = \frac{\sum_{i=1}^{B} |R^a_i \cap R^b_i|}{\sum_{i=1}^{B} |R^a_i \cup R^b_i|}

    (1 when both regions are empty in every image: the maps agree). Given lists of
    batches, the batch IoUs are averaged with weights :math:`B_j / \sum_j B_j`.

    Parameters
    ----------
    maps_a, maps_b : Tensor or sequence of Tensor
        ``(B, H, W)`` (or any ``(B, ...)``) maps in ``[0, 1]``, or lists of such batches,
        paired batch by batch.
    threshold : float, default 0.4
        :math:`\theta`.

    Returns
    -------
    float
        In ``[0, 1]``.

    Example
    -------
    >>> import torch
    >>> a = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    >>> b = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    >>> attention_iou(a, b)  # one shared pixel of three
    0.3333333333333333
    """
    first, second = as_batches(maps_a, "maps_a"), as_batches(maps_b, "maps_b")
    if len(first) != len(second):
        raise ValueError(
            f"maps_a holds {len(first)} batches but maps_b {len(second)}; pair them one to one"
        )
    total, weighted = 0, 0.0
    for i, (a, b) in enumerate(zip(first, second)):
        if a.shape != b.shape:
            raise ValueError(
                f"batch {i}: maps of shapes {tuple(a.shape)} and {tuple(b.shape)}; compute both "
                "models' maps on the same images at the input size"
            )
        if a.dim() < 1 or a.shape[0] == 0:
            raise ValueError(f"batch {i} holds no map; drop empty batches")
        region_a, region_b = a >= threshold, b >= threshold
        union = int((region_a | region_b).sum())
        iou = 1.0 if union == 0 else int((region_a & region_b).sum()) / union
        weighted += a.shape[0] * iou
        total += a.shape[0]
    return weighted / total
