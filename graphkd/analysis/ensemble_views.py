"""The views of one image that a student and the teachers of an ensemble see."""

from __future__ import annotations

from typing import Any, Callable, List, Sequence, Tuple

from graphkd.analysis.augmentations import STRENGTHS


class EnsembleViews:
    r"""Map one image to the student's view and one view per teacher.

    Every view is drawn with the transform of its strength, ``weak`` or ``strong``. With
    ``shared=True`` (the default, the reference protocol) every teacher sees the
    student's own view, so teachers and student are compared on the same pixels; with
    ``shared=False`` teacher :math:`k` gets its own draw of its strength
    ``assignment[k]``:

    .. math::
        x^s = T_{\text{student}}(x), \qquad
        x^{t_k} = \begin{cases} x^s & \text{shared} \\
            T_{\text{assignment}[k]}(x) & \text{otherwise} \end{cases}

    Parameters
    ----------
    weak, strong : callable
        Full transforms of one image (as the dataset yields it) to a model input, e.g.
        ``info.transform(ensemble_augmentation("weak", 32))``.
    assignment : sequence of {"weak", "strong"}
        Each teacher's augmentation strength (the one it was trained with); its length is
        the number of teachers.
    student : {"weak", "strong"}, default "weak"
        The strength of the student's view.
    shared : bool, default True
        Give every teacher the student's view instead of its own.

    Call
    ----
    image
        One image. Returns ``(student_view, [teacher_view, ...])``; PyTorch's default
        collate turns a batch of them into ``(student_batch, [teacher_batch, ...])``.

    Example
    -------
    >>> from PIL import Image
    >>> from graphkd.analysis import ensemble_augmentation
    >>> from graphkd.data import dataset_info
    >>> info = dataset_info("fashion_mnist")
    >>> weak = info.transform(ensemble_augmentation("weak", 28))
    >>> strong = info.transform(ensemble_augmentation("strong", 28))
    >>> views = EnsembleViews(weak, strong, ["weak", "strong"], shared=False)
    >>> student, teachers = views(Image.new("L", (28, 28)))
    >>> student.shape, len(teachers)
    (torch.Size([1, 28, 28]), 2)
    """

    def __init__(
        self,
        weak: Callable,
        strong: Callable,
        assignment: Sequence[str],
        student: str = "weak",
        shared: bool = True,
    ) -> None:
        if isinstance(assignment, str):
            raise ValueError(
                f"assignment must list one strength per teacher, got the string "
                f"{assignment!r}; write [{assignment!r}]"
            )
        assignment = tuple(assignment)
        if not assignment:
            raise ValueError("assignment lists no teacher; give one strength per teacher")
        unknown = sorted({s for s in (*assignment, student) if s not in STRENGTHS})
        if unknown:
            raise ValueError(
                f"unknown augmentation strength(s) {unknown}; choose from {', '.join(STRENGTHS)}"
            )
        self.transforms = {"weak": weak, "strong": strong}
        self.assignment = assignment
        self.student = student
        self.shared = shared

    @property
    def num_teachers(self) -> int:
        """The number of teacher views per image."""
        return len(self.assignment)

    def __call__(self, image: Any) -> Tuple[Any, List[Any]]:
        student_view = self.transforms[self.student](image)
        if self.shared:
            return student_view, [student_view] * self.num_teachers
        return student_view, [self.transforms[s](image) for s in self.assignment]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(assignment={list(self.assignment)}, "
            f"student={self.student!r}, shared={self.shared})"
        )
