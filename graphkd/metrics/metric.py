"""The base class of every graphkd metric (a scalar comparison of student and teacher) and
the input checks the metrics share."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Optional, Sequence

import torch
from torch import Tensor

from graphkd import responses

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


def check_choice(caller: str, option: str, value: str, choices: Sequence[str]) -> None:
    """Raise a ``ValueError`` unless ``value`` is one of ``choices``.

    Example
    -------
    >>> check_choice("mse", "reduction", "mean", ("mean", "sum"))
    >>> check_choice("mse", "reduction", "avg", ("mean", "sum"))
    Traceback (most recent call last):
    ...
    ValueError: mse: unknown reduction 'avg'; use one of 'mean', 'sum'
    """
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{caller}: unknown {option} {value!r}; use one of {valid}")


def check_positive(caller: str, option: str, value: float) -> None:
    """Raise a ``ValueError`` unless ``value > 0``.

    Example
    -------
    >>> check_positive("kl", "temperature", 0.0)
    Traceback (most recent call last):
    ...
    ValueError: kl: temperature must be positive, got 0.0; pass a value > 0
    """
    if not value > 0:
        raise ValueError(f"{caller}: {option} must be positive, got {value!r}; pass a value > 0")


def check_non_negative(caller: str, option: str, value: float) -> None:
    """Raise a ``ValueError`` unless ``value >= 0``.

    Example
    -------
    >>> check_non_negative("dkd", "beta", -1.0)
    Traceback (most recent call last):
    ...
    ValueError: dkd: beta must be >= 0, got -1.0; pass a value >= 0
    """
    if not value >= 0:
        raise ValueError(f"{caller}: {option} must be >= 0, got {value!r}; pass a value >= 0")


def check_same_shape(caller: str, student: Tensor, teacher: Tensor) -> None:
    """Raise a ``ValueError`` unless ``student`` and ``teacher`` have equal shapes.

    Parameters
    ----------
    caller : str
        The metric's name, used in the error message.
    student, teacher : Tensor
        The pair to compare.

    Example
    -------
    >>> import torch
    >>> check_same_shape("mse", torch.zeros(2, 3), torch.zeros(2, 3))
    >>> check_same_shape("mse", torch.zeros(2, 3), torch.zeros(2, 4))
    Traceback (most recent call last):
    ...
    ValueError: mse: student shape (2, 3) differs from teacher shape (2, 4); ...
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"{caller}: student shape {tuple(student.shape)} differs from teacher shape "
            f"{tuple(teacher.shape)}; give both the same shape, for example by projecting "
            "the student's features to the teacher's width"
        )


def check_finite(name: str, tensor: Tensor) -> None:
    """Raise a ``ValueError`` when ``tensor`` holds a NaN or an infinity.

    The check reads one boolean back from the tensor's device, so it synchronises a GPU
    stream; metrics call it only while their ``check_finite`` flag is on.

    Parameters
    ----------
    name : str
        How the tensor is called in the error message (``"student"``, ``"teacher"``, ...).
    tensor : Tensor
        Any shape.

    Example
    -------
    >>> import torch
    >>> check_finite("student", torch.zeros(3))
    >>> check_finite("student", torch.tensor([0.0, float("nan")]))
    Traceback (most recent call last):
    ...
    ValueError: student contains NaN or Inf values (1 of 2 entries); ...
    """
    responses.check_finite(
        {name: tensor},
        fix="fix the computation that produced it (for example lower the learning rate or "
        "train in float32), or construct the metric with check_finite=False to skip this check",
    )


class Metric(torch.nn.Module, abc.ABC):
    """A differentiable comparison of a student tensor with a teacher tensor.

    A *node metric* compares per-row quantities and treats dim 0 as the rows (nodes or
    samples). An *edge metric* receives edge features ``(E, ...)`` and, when it needs the
    topology (for example a softmax over the incoming edges of each node), the
    :class:`~graphkd.knowledge_graph.KnowledgeGraph` they live on.

    .. math::

        \\ell = d(s, t) \\in \\mathbb{R}, \\qquad s, t \\in \\mathbb{R}^{N \\times \\cdots}

    Subclasses implement :meth:`forward` and call :meth:`check_inputs` first.

    Parameters
    ----------
    check_finite : bool, default True
        Whether :meth:`check_inputs` rejects NaN and Inf entries. The check costs one
        device synchronisation per call; switch it off in tuned training loops, either
        here or later through the ``check_finite`` attribute.

    Example
    -------
    >>> import torch
    >>> class MaxAbs(Metric):
    ...     def forward(self, student, teacher, graph=None):
    ...         self.check_inputs(student, teacher)
    ...         return (student - teacher).abs().max()
    >>> float(MaxAbs()(torch.zeros(2, 2), torch.tensor([[1.0, -3.0], [0.0, 2.0]])))
    3.0
    >>> MaxAbs()(torch.zeros(2, 2), torch.zeros(2, 3))
    Traceback (most recent call last):
    ...
    ValueError: MaxAbs: student shape (2, 2) differs from teacher shape (2, 3); ...
    """

    def __init__(self, check_finite: bool = True) -> None:
        super().__init__()
        self.check_finite = check_finite

    @abc.abstractmethod
    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        """Compare ``student`` with ``teacher`` and return a scalar."""

    def check_inputs(self, student: Tensor, teacher: Tensor) -> None:
        """Validate a student/teacher pair before the metric is computed.

        Raises a ``ValueError`` when the shapes differ, when the inputs are 0-d or empty,
        or (while ``check_finite`` is on) when either holds a NaN or an infinity.

        Parameters
        ----------
        student, teacher : Tensor
            Equal shapes, at least one dimension, at least one entry.
        """
        name = type(self).__name__
        check_same_shape(name, student, teacher)
        if student.dim() == 0:
            raise ValueError(
                f"{name}: inputs are 0-d tensors; give them a row dimension, for example "
                "with .unsqueeze(0)"
            )
        if student.numel() == 0:
            raise ValueError(
                f"{name}: inputs of shape {tuple(student.shape)} are empty; skip the metric "
                "when there is nothing to compare"
            )
        if self.check_finite:
            check_finite("student", student)
            check_finite("teacher", teacher)

    def extra_repr(self) -> str:
        options = {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and key != "training"
        }
        return ", ".join(f"{key}={value!r}" for key, value in options.items())
