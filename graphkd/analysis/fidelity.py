"""Fidelity of a student to a teacher or a teacher ensemble (Stanton et al. 2021; Guo et al.)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

#: The factor the reference implementation multiplies the fidelity KL by.
KL_SCALE = 10.0


@dataclass(frozen=True)
class Fidelity:
    """How closely a student reproduces its teachers' predictions.

    Parameters
    ----------
    agreement : float
        Top-1 agreement in ``[0, 1]``.
    kl : float
        :math:`\\mathrm{KL}(p_s \\| \\mathrm{softmax}(\\bar z_t))` at temperature 1, in nats,
        batch mean (:math:`\\bar z_t` the teachers' mean logits).
    kl_scaled : float
        ``KL_SCALE * kl``, the value the reference implementation reports.
    """

    agreement: float
    kl: float
    kl_scaled: float


def _check_logits(student: Tensor, teachers: Sequence[Tensor]) -> None:
    if student.dim() != 2:
        raise ValueError(
            f"student logits must have shape (B, C), got {tuple(student.shape)}; pass the "
            "logits, not the predicted labels"
        )
    if student.shape[0] == 0:
        raise ValueError("the student logits hold no sample; pass at least one row")
    for i, teacher in enumerate(teachers):
        if teacher.dim() != 2 or teacher.shape[0] != student.shape[0]:
            raise ValueError(
                f"teacher {i} logits have shape {tuple(teacher.shape)} but the student's "
                f"{tuple(student.shape)}; feed every model the same images"
            )
        if teacher.shape[1] != student.shape[1]:
            raise ValueError(
                f"teacher {i} predicts {teacher.shape[1]} classes but the student "
                f"{student.shape[1]}; compare models trained on the same label set"
            )


def fidelity(student_logits: Tensor, teacher_logits: Union[Tensor, Sequence[Tensor]]) -> Fidelity:
    r"""Top-1 agreement and KL divergence of a student from a teacher or an ensemble.

    With :math:`T` teachers of logits :math:`z^{t_1}, \dots, z^{t_T}`, the ensemble is
    their mean logits :math:`\bar z^t = \frac1T \sum_k z^{t_k}`: it predicts
    :math:`\hat y^t_i = \arg\max_c \bar z^t_{ic}` with probabilities
    :math:`\bar p^t = \mathrm{softmax}(\bar z^t)`, and

    .. math::
        \mathrm{agreement} = \frac1B \sum_i \mathbf{1}\big[\arg\max_c z^s_{ic} = \hat y^t_i\big],
        \qquad
        \mathrm{KL} = \frac1B \sum_i \sum_c p^s_{ic} \log \frac{p^s_{ic}}{\bar p^t_{ic}},

    with :math:`p^s = \mathrm{softmax}(z^s)` (temperature 1), as the reference
    implementation of the ensemble study computes it; it reports :math:`10\,\mathrm{KL}`
    (``kl_scaled``). With one teacher, :math:`\bar z^t = z^t`.

    Parameters
    ----------
    student_logits : Tensor
        ``(B, C)``.
    teacher_logits : Tensor or sequence of Tensor
        One teacher's ``(B, C)`` logits, or a list of them for an ensemble.

    Returns
    -------
    Fidelity
        ``agreement``, ``kl`` and ``kl_scaled``.

    Raises
    ------
    ValueError
        Empty batch, or shapes (batch size, number of classes) that differ.

    Example
    -------
    >>> import torch
    >>> z = torch.randn(8, 5)
    >>> f = fidelity(z, [z, z])
    >>> f.agreement, round(f.kl, 6)
    (1.0, 0.0)
    """
    teachers = [teacher_logits] if isinstance(teacher_logits, Tensor) else list(teacher_logits)
    if not teachers:
        raise ValueError("no teacher logits given; pass one (B, C) tensor or a list of them")
    _check_logits(student_logits, teachers)
    student = student_logits.detach().double()
    stacked = torch.stack([t.detach().double().to(student.device) for t in teachers])
    ensemble = stacked.mean(0)
    agreement = float((student.argmax(1) == ensemble.argmax(1)).double().mean())
    log_ps = F.log_softmax(student, dim=1)
    log_pt = F.log_softmax(ensemble, dim=1)
    kl = float((log_ps.exp() * (log_ps - log_pt)).sum(1).mean())
    return Fidelity(agreement=agreement, kl=kl, kl_scaled=KL_SCALE * kl)
