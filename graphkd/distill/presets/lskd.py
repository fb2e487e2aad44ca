"""Logit-standardised KD (Sun et al., CVPR 2024) as a node-level term."""

from __future__ import annotations

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS
from graphkd.distill.presets.kd import sample_nodes


@METHODS.register("lskd")
def lskd(
    temperature: float = 2.0, weight: float = 9.0, ce_weight: float = 0.1
) -> GraphMatchingDistiller:
    r"""KD on z-score-standardised logits (Sun et al., CVPR 2024).

    .. math::
        Z(z) = \frac{z - \bar z}{\sigma(z) + 10^{-7}}, \qquad
        \mathcal{L} = \tau^2\,\mathrm{KL}\big(\mathrm{softmax}(Z(z^t)/\tau)\,\|\,
                      \mathrm{softmax}(Z(z^s)/\tau)\big)

    with the unbiased standard deviation over classes, batch mean.

    Parameters
    ----------
    temperature : float
        Base temperature :math:`\tau` (2; 3 for some pairs).
    weight, ce_weight : float
        KD and cross-entropy weights (9 and 0.1, the reference's).
    """
    term = MatchTerm(
        "lskd",
        field="logits",
        on="nodes",
        metric="zscore_kd",
        weight=weight,
        options={"tau": temperature},
    )
    return GraphMatchingDistiller(
        sample_nodes, terms=[term], ce_weight=ce_weight, graph_name="samples"
    )
