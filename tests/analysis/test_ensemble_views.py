"""EnsembleViews: the student's view and one view per teacher."""

import pytest
import torch

from graphkd.analysis import EnsembleViews


class Marker:
    def __init__(self, name):
        self.name = name
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        return (self.name, self.calls, image)


def test_by_default_every_teacher_sees_the_students_view():
    weak, strong = Marker("weak"), Marker("strong")
    student, teachers = EnsembleViews(weak, strong, ["weak", "strong", "strong"])("img")
    assert student == ("weak", 1, "img")
    assert teachers == [student] * 3
    assert weak.calls == 1 and strong.calls == 0


def test_per_teacher_strength_draws_one_view_each():
    weak, strong = Marker("weak"), Marker("strong")
    views = EnsembleViews(
        weak, strong, ["strong", "weak", "strong"], student="strong", shared=False
    )
    student, teachers = views("img")
    assert student == ("strong", 1, "img")
    assert teachers == [("strong", 2, "img"), ("weak", 1, "img"), ("strong", 3, "img")]
    assert views.num_teachers == 3


def test_views_of_real_transforms_collate_into_batches():
    from torch.utils.data import default_collate

    views = EnsembleViews(lambda x: x + 1, lambda x: x * 0, ["weak", "strong"], shared=False)
    student, teachers = default_collate([views(torch.ones(2)), views(torch.ones(2))])
    assert torch.equal(student, torch.full((2, 2), 2.0))
    assert torch.equal(teachers[0], student) and torch.equal(teachers[1], torch.zeros(2, 2))


@pytest.mark.parametrize(
    "assignment, student, message",
    [
        (["weak", "medium"], "weak", "medium"),
        ([], "weak", "no teacher"),
        ("weak", "weak", "one strength"),
        (["weak"], "hard", "hard"),
    ],
)
def test_bad_input_is_rejected(assignment, student, message):
    with pytest.raises(ValueError, match=message):
        EnsembleViews(str, str, assignment, student=student)
