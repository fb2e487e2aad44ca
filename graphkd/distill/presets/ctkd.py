"""Curriculum temperature KD (Li et al., AAAI 2023): a learnable temperature trained
adversarially through a gradient reversal whose strength follows a cosine curriculum."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset, written_for
from graphkd.distill.presets.kd import sample_nodes
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics.metric import Metric, check_positive


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``-strength``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, strength: float) -> Tensor:
        ctx.strength = strength
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Tensor, None]:
        return grad * -ctx.strength, None


def reverse_gradient(x: Tensor, strength: float) -> Tensor:
    """``x`` unchanged, its gradient multiplied by ``-strength`` on the way back (a
    gradient reversal layer, Ganin and Lempitsky 2015).

    Example
    -------
    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> (3 * reverse_gradient(x, 0.5)).backward()
    >>> float(x.grad)
    -1.5
    """
    return _ReverseGradient.apply(x, strength)


def cosine_curriculum(epoch: int, epochs: int, maximum: float = 1.0) -> float:
    r"""The reversal strength of epoch ``epoch`` (0-based): a half cosine from 0 to
    ``maximum`` over ``epochs`` epochs, counted from 1 as the reference does,

    .. math::
        \lambda(e) = \lambda_{max}\,\frac{1 - \cos\big(\pi \min(e + 1, E) / E\big)}{2}

    (``epochs=0``: ``maximum`` from the start).

    Example
    -------
    >>> [round(cosine_curriculum(e, 4), 4) for e in range(5)]
    [0.1464, 0.5, 0.8536, 1.0, 1.0]
    """
    if epochs <= 0:
        return maximum
    step = min(epoch + 1, epochs)
    return maximum * (1.0 - math.cos(math.pi * step / epochs)) / 2.0


class LearnableTemperature(nn.Module):
    r"""A global distillation temperature learned against the student (CTKD).

    .. math::
        \tau = \tau_{min} + \tau_{range}\,\sigma\big(\mathrm{GRL}_\lambda(\theta)\big)

    where :math:`\theta` is one learnable scalar and :math:`\mathrm{GRL}_\lambda` the
    identity whose backward multiplies the gradient by :math:`-\lambda`: minimising a
    loss that depends on :math:`\tau` moves :math:`\tau` to *increase* it, with strength
    :math:`\lambda`. :meth:`set_epoch` sets :math:`\lambda` from
    :func:`cosine_curriculum`. Any logit method can call the module for its temperature
    (a 0-d tensor, differentiable) and pass the epoch on.

    Parameters
    ----------
    minimum : float
        :math:`\tau_{min}` (1).
    span : float
        :math:`\tau_{range}` (20): :math:`\tau` stays in
        :math:`(\tau_{min}, \tau_{min} + \tau_{range})`.
    init : float
        The initial :math:`\theta` (1, so :math:`\tau` starts at
        :math:`1 + 20\sigma(1) \approx 15.62`).
    curriculum_epochs : int
        :math:`E`, epochs over which :math:`\lambda` rises (10; 5 on ImageNet).
    max_strength : float
        :math:`\lambda_{max}` (1).

    Example
    -------
    >>> module = LearnableTemperature()
    >>> round(float(module().detach()), 2), round(module.strength, 4)
    (15.62, 0.0245)
    >>> module.set_epoch(9); module.strength
    1.0
    """

    def __init__(
        self,
        minimum: float = 1.0,
        span: float = 20.0,
        init: float = 1.0,
        curriculum_epochs: int = 10,
        max_strength: float = 1.0,
    ) -> None:
        super().__init__()
        check_positive("learnable temperature", "minimum", minimum)
        check_positive("learnable temperature", "span", span)
        if curriculum_epochs < 0 or max_strength < 0:
            raise ValueError(
                "learnable temperature: curriculum_epochs and max_strength must be >= 0, got "
                f"{curriculum_epochs!r} and {max_strength!r}; pass values >= 0"
            )
        self.minimum, self.span, self.init = minimum, span, init
        self.curriculum_epochs, self.max_strength = curriculum_epochs, max_strength
        self.raw = nn.Parameter(torch.full((1,), float(init)))
        #: :math:`\lambda`, the current reversal strength (the first epoch's until
        #: :meth:`set_epoch` says otherwise).
        self.strength = cosine_curriculum(0, curriculum_epochs, max_strength)

    def set_epoch(self, epoch: int) -> None:
        """Set the reversal strength of 0-based epoch ``epoch``."""
        self.strength = cosine_curriculum(epoch, self.curriculum_epochs, self.max_strength)

    def forward(self) -> Tensor:
        """The temperature, a 0-d tensor."""
        raw = reverse_gradient(self.raw, self.strength)
        return (self.minimum + self.span * torch.sigmoid(raw))[0]

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.raw.fill_(self.init)

    def extra_repr(self) -> str:
        return (
            f"minimum={self.minimum}, span={self.span}, init={self.init}, "
            f"curriculum_epochs={self.curriculum_epochs}, strength={self.strength:.4f}"
        )


class LearnedTemperatureKD(Metric):
    r"""Hinton's KD at a temperature a module supplies on every call.

    .. math::
        \ell = \frac{\tau^2}{B}\sum_i \mathrm{KL}\big(\mathrm{softmax}(t_i/\tau)\,\|\,
            \mathrm{softmax}(s_i/\tau)\big), \qquad \tau = \mathrm{temperature}()

    The gradient reaches :math:`\tau` through both softmaxes and :math:`\tau^2`.
    Shapes: ``student`` and ``teacher`` ``(B, C)`` logits.
    """

    def __init__(self, temperature: nn.Module, check_finite: bool = True) -> None:
        super().__init__(check_finite)
        self.temperature = temperature

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        tau = self.temperature()
        log_s = F.log_softmax(student / tau, dim=-1)
        log_t = F.log_softmax(teacher / tau, dim=-1)
        rows = student.numel() // student.shape[-1]
        kl = F.kl_div(log_s, log_t, reduction="sum", log_target=True)
        return kl * tau.square() / rows

    def extra_repr(self) -> str:
        return ""


class CTKDDistiller(GraphMatchingDistiller):
    r"""KD on sample nodes at a learnable temperature (see :func:`ctkd`); the temperature
    module, a :class:`LearnableTemperature` of :math:`\tau_{min}` ``min_temperature``,
    :math:`\tau_{range}` ``temperature_range`` and the given ``init``,
    ``curriculum_epochs`` and ``max_strength``, is ``self.temperature`` and its value is
    logged as ``"temperature"``."""

    graph_name = "samples"

    def __init__(
        self,
        weight: float = 0.9,
        ce_weight: float = 0.1,
        min_temperature: float = 1.0,
        temperature_range: float = 20.0,
        init: float = 1.0,
        curriculum_epochs: int = 10,
        max_strength: float = 1.0,
    ) -> None:
        module = LearnableTemperature(
            min_temperature, temperature_range, init, curriculum_epochs, max_strength
        )
        metric = LearnedTemperatureKD(module, check_finite=False)
        term = MatchTerm("kd", field="logits", on="nodes", metric=metric, weight=weight)
        super().__init__(sample_nodes, terms=[term], ce_weight=ce_weight)
        self.temperature = module

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.temperature.set_epoch(epoch)

    def forward(self, teacher: Any, student: Any) -> Dict[str, Tensor]:
        out = super().forward(teacher, student)
        with torch.no_grad():
            out["temperature"] = self.temperature()
        return out


@METHODS.register("ctkd")
@written_for(240)
@preset(CTKDDistiller)
def ctkd() -> CTKDDistiller:
    r"""Curriculum temperature for KD (Li et al., AAAI 2023): vanilla KD whose global
    temperature is learned adversarially.

    .. math::
        \tau = \tau_{min} + \tau_{range}\,\sigma(\theta), \qquad
        \mathcal{L} = w_{ce}\,\mathrm{CE} + w\,\frac{\tau^2}{B}\sum_i
            \mathrm{KL}\big(\mathrm{softmax}(z^t_i/\tau)\,\|\,\mathrm{softmax}(z^s_i/\tau)\big)

    The student descends :math:`\mathcal{L}`; :math:`\theta` (one scalar, trained with the
    student by the same optimiser) receives :math:`-\lambda(e)\,\partial\mathcal{L}/\partial\theta`
    through a gradient reversal, so it *ascends* the KD loss, with the strength rising
    along a cosine curriculum from 0 to :math:`\lambda_{max}` over ``curriculum_epochs``
    epochs (:func:`cosine_curriculum`; the epoch comes from
    :meth:`~graphkd.distill.Distiller.set_epoch`). The temperature is logged as
    ``"temperature"``. :class:`LearnableTemperature` is the reusable part.

    Shapes: ``(B, C)`` logits.

    Parameters
    ----------
    weight, ce_weight : float
        KD and cross-entropy weights (0.9 and 0.1, the reference's ``-a 0.9 -r 0.1``;
        1 and 1 on ImageNet).
    min_temperature, temperature_range : float
        :math:`\tau_{min}` and :math:`\tau_{range}` (the reference's ``t_start`` 1 and
        ``t_end`` 20).
    init : float
        The initial :math:`\theta` (1).
    curriculum_epochs : int
        Epochs of the cosine curriculum (the reference's ``decay_loops``: 10 on CIFAR-100,
        5 on ImageNet).
    max_strength : float
        :math:`\lambda_{max}` (1, the reference's ``-decay_min``).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> method = ctkd()
    >>> out = method(Responses(torch.randn(4, 5)), Responses(torch.randn(4, 5)))
    >>> sorted(out), round(float(out["temperature"]), 2)
    (['kd', 'loss', 'temperature'], 15.62)
    """
