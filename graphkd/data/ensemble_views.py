r"""The views of one image that a student and each teacher of an ensemble see."""

from __future__ import annotations

from typing import Any, Callable, List, NamedTuple, Optional, Sequence


class EnsembleSample(NamedTuple):
    """One image's views: the student's, and one per teacher (collates into batches).

    PyTorch's default collate keeps the type, so a batch of samples is an
    ``EnsembleSample(student=(B, ...) tensor, teachers=[(B, ...) tensor, ...])``.
    """

    student: Any
    teachers: List[Any]


class EnsembleViews:
    r"""Map one image to the student's view and one view per teacher.

    Teacher :math:`k` gets its own draw of its transform :math:`T_k` (e.g. the weak or
    strong augmentation it was trained with), or, where :math:`T_k` is ``None``, the
    student's view itself (the reference protocol: teachers and student are compared on
    the same pixels):

    .. math::
        x^s = T_s(x), \qquad
        x^{t_k} = \begin{cases} x^s & T_k = \text{None} \\ T_k(x) & \text{otherwise}
        \end{cases}

    Parameters
    ----------
    student : callable
        Full transform of one image (as the dataset yields it) to the student's input,
        e.g. ``info.train_transform()``.
    teachers : sequence of callable or None
        One entry per teacher: its transform, e.g. ``info.train_transform("strong")``,
        or ``None`` for the student's view.

    Call
    ----
    image
        One image. Returns an :class:`EnsembleSample` ``(student_view, [teacher_view,
        ...])``.

    Example
    -------
    >>> from PIL import Image
    >>> from graphkd.data import dataset_info
    >>> info = dataset_info("fashion_mnist")
    >>> views = EnsembleViews(
    ...     info.train_transform(), [info.train_transform("weak"), info.train_transform("strong")]
    ... )
    >>> student, teachers = views(Image.new("L", (28, 28)))
    >>> student.shape, len(teachers)
    (torch.Size([1, 28, 28]), 2)
    """

    def __init__(self, student: Callable, teachers: Sequence[Optional[Callable]]) -> None:
        if callable(teachers):
            raise ValueError(
                "teachers must list one transform (or None) per teacher, got a single "
                "transform; write [transform]"
            )
        teachers = list(teachers)
        if not teachers:
            raise ValueError("teachers lists no teacher; give one transform (or None) per teacher")
        if not callable(student):
            raise ValueError(
                f"the student's transform must be callable, got {type(student).__name__}"
            )
        wrong = [k for k, t in enumerate(teachers) if t is not None and not callable(t)]
        if wrong:
            raise ValueError(
                f"teacher transforms {wrong} are neither callable nor None; give a transform, "
                "or None for the student's view"
            )
        self.student = student
        self.teachers = teachers

    @property
    def num_teachers(self) -> int:
        """The number of teacher views per image."""
        return len(self.teachers)

    def __call__(self, image: Any) -> EnsembleSample:
        student_view = self.student(image)
        return EnsembleSample(
            student_view, [student_view if t is None else t(image) for t in self.teachers]
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(student={self.student!r}, teachers={self.teachers!r})"
