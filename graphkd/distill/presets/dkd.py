"""Decoupled KD (Zhao et al., CVPR 2022): the target class and the non-target classes of
every sample as two node terms, with a warm-up by epoch."""

from __future__ import annotations

import functools
from typing import Dict

import torch
from torch import Tensor

from graphkd.distill.class_split import check_pair_labels, split_classes
from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset, written_for
from graphkd.distill.warmup import linear_warmup
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics.metric import check_non_negative, check_positive
from graphkd.responses import Responses


def target_split(responses: Responses, temperature: float = 4.0) -> KnowledgeGraph:
    r"""Samples as nodes, each sample's classes split into its target and the rest.

    With :math:`p = \mathrm{softmax}(z/\tau)` and target :math:`y`, node :math:`i` holds

    * ``ndata["target_vs_rest"]`` ``(B, 2)``: :math:`\tau\,(\log p_y,\ \log(1 - p_y))`,
      the binary target/non-target distribution as scores at temperature :math:`\tau`
      (a softmax of them divided by :math:`\tau` gives :math:`(p_y, 1 - p_y)`);
    * ``ndata["non_target"]`` ``(B, C - 1)``: the logits of the non-target classes, in
      class order (the target's column removed).
    """
    logits = responses.logits
    rows = logits.shape[0]
    target, non_target = split_classes(logits, responses)
    whole = torch.logsumexp(logits / temperature, dim=1, keepdim=True)
    rest = torch.logsumexp(non_target / temperature, dim=1, keepdim=True)
    binary = torch.cat([target / temperature - whole, rest - whole], dim=1) * temperature
    none = torch.empty(0, dtype=torch.long, device=logits.device)
    return KnowledgeGraph(
        none, none, rows, ndata={"target_vs_rest": binary, "non_target": non_target}
    )


class DKDDistiller(GraphMatchingDistiller):
    r"""Decoupled KD: target-class (TCKD) and non-target-class (NCKD) terms, warmed up.

    .. math::
        \mathcal{L} = \min\!\Big(\frac{e + 1}{E_w}, 1\Big)\,\big(\alpha\,\mathrm{TCKD}
            + \beta\,\mathrm{NCKD}\big)

    with :math:`e` the 0-based epoch (:meth:`~graphkd.distill.Distiller.set_epoch`) and
    :math:`E_w` the warm-up length (``warmup_epochs=0``: no warm-up). See :func:`dkd`.
    """

    graph_name = "samples"

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 8.0,
        temperature: float = 4.0,
        warmup_epochs: int = 20,
        ce_weight: float = 1.0,
    ) -> None:
        check_positive("dkd", "temperature", temperature)
        for name, value in (("alpha", alpha), ("beta", beta), ("warmup_epochs", warmup_epochs)):
            check_non_negative("dkd", name, value)
        options = {"temperature": temperature, "scale_by_temperature_squared": True}
        terms = [
            MatchTerm("tckd", "target_vs_rest", "nodes", "kl", weight=alpha, options=options),
            MatchTerm("nckd", "non_target", "nodes", "kl", weight=beta, options=options),
        ]
        builder = functools.partial(target_split, temperature=temperature)
        super().__init__(builder, terms=terms, ce_weight=ce_weight)
        self.alpha, self.beta, self.temperature, self.warmup_epochs = (
            alpha,
            beta,
            temperature,
            warmup_epochs,
        )

    def warmup_factor(self) -> float:
        """:func:`~graphkd.distill.warmup.linear_warmup` at the current epoch (1 without a
        warm-up)."""
        return linear_warmup(self.epoch, self.warmup_epochs)

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        if self.check_inputs:
            check_pair_labels(teacher, student)
        out = super().forward(teacher, student)
        out["loss"] = self.warmup_factor() * out["loss"]
        return out


@METHODS.register("dkd")
@written_for(240)
@preset(DKDDistiller)
def dkd() -> DKDDistiller:
    r"""Decoupled knowledge distillation (Zhao et al., CVPR 2022).

    Each sample's class scores split into its target class :math:`y` and the others.
    With :math:`p = \mathrm{softmax}(z/\tau)`, :math:`b = (p_y, 1 - p_y)` and
    :math:`\hat p = \mathrm{softmax}(z_{\setminus y}/\tau)` over the :math:`C - 1`
    non-target classes,

    .. math::
        \mathrm{TCKD} = \frac{\tau^2}{B}\sum_i \mathrm{KL}(b^t_i \,\|\, b^s_i), \qquad
        \mathrm{NCKD} = \frac{\tau^2}{B}\sum_i \mathrm{KL}(\hat p^t_i \,\|\, \hat p^s_i),

        \mathcal{L} = \min\!\Big(\frac{e + 1}{E_w}, 1\Big)\,
            \big(\alpha\,\mathrm{TCKD} + \beta\,\mathrm{NCKD}\big)

    where :math:`e` is the 0-based epoch the trainer announces
    (:meth:`~graphkd.distill.Distiller.set_epoch`; the reference counts epochs from 1, so
    the first epoch trains at :math:`1/E_w`).

    Shapes: ``(B, C)`` logits, ``(B,)`` integer labels (``Responses.labels``), ``C >= 2``.

    Parameters
    ----------
    alpha, beta : float
        Weights of TCKD and NCKD (1 and 8; the reference's CIFAR-100 configs use beta 6
        for vgg13->vgg8 and wrn_40_2->wrn_16_2 and 2 for resnet56->resnet20 and
        resnet110->resnet32; ImageNet: beta 0.5 for ResNet34->ResNet18).
    temperature : float
        :math:`\tau` (4; 1 on ImageNet).
    warmup_epochs : int
        :math:`E_w`, epochs over which the loss ramps up linearly (20; 1 on ImageNet;
        0 for none).
    ce_weight : float
        Weight of the student's cross-entropy (1).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> method = dkd()
    >>> labels = torch.tensor([0, 2, 1, 2])
    >>> t = Responses(torch.randn(4, 5), labels=labels)
    >>> s = Responses(torch.randn(4, 5), labels=labels)
    >>> method.set_epoch(19)  # the 20th epoch: warm-up done
    >>> out = method(t, s)
    >>> sorted(out), bool(torch.isclose(out["loss"], out["tckd"] + 8 * out["nckd"]))
    (['loss', 'nckd', 'tckd'], True)
    """
