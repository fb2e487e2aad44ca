"""Linear loss warm-up by epoch, as DKD and ReviewKD schedule their losses."""

from __future__ import annotations


def linear_warmup(epoch: int, warmup_epochs: int) -> float:
    r"""The factor of a loss in 0-based epoch ``epoch`` of a linear warm-up over
    ``warmup_epochs`` epochs, counted from 1 as the references count them,

    .. math::
        \min\Big(\frac{e + 1}{E_w}, 1\Big)

    (1 without a warm-up, ``warmup_epochs=0``).

    Example
    -------
    >>> [linear_warmup(epoch, 4) for epoch in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """
    return 1.0 if warmup_epochs == 0 else min((epoch + 1) / warmup_epochs, 1.0)
