"""EnsembleViews: the student's view and one view per teacher."""

import pytest
import torch
from torch.utils.data import default_collate

from graphkd.data import EnsembleSample, EnsembleViews


class Marker:
    def __init__(self, name):
        self.name = name
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        return (self.name, self.calls, image)


def test_none_gives_a_teacher_the_students_own_view():
    student = Marker("student")
    sample = EnsembleViews(student, [None, None, None])("img")
    assert sample.student == ("student", 1, "img")
    assert sample.teachers == [sample.student] * 3
    assert student.calls == 1


def test_each_teacher_draws_its_own_view_of_the_same_image():
    student, weak, strong = Marker("student"), Marker("weak"), Marker("strong")
    views = EnsembleViews(student, [strong, weak, None, strong])
    student_view, teachers = views("img")
    assert student_view == ("student", 1, "img")
    assert teachers == [
        ("strong", 1, "img"),
        ("weak", 1, "img"),
        student_view,
        ("strong", 2, "img"),
    ]
    assert views.num_teachers == 4


def test_samples_collate_into_an_ensemble_batch():
    views = EnsembleViews(lambda x: x + 1, [lambda x: x * 0, None])
    batch = default_collate([views(torch.ones(2)), views(torch.ones(2))])
    assert isinstance(batch, EnsembleSample)
    assert torch.equal(batch.student, torch.full((2, 2), 2.0))
    assert torch.equal(batch.teachers[0], torch.zeros(2, 2))
    assert torch.equal(batch.teachers[1], batch.student)


@pytest.mark.parametrize(
    "student, teachers, message",
    [
        (str, [], "no teacher"),
        (str, str, "one transform"),
        ("weak", [None], "student's transform must be callable"),
        (str, [None, "strong"], r"\[1\] are neither callable nor None"),
    ],
)
def test_bad_input_is_rejected(student, teachers, message):
    with pytest.raises(ValueError, match=message):
        EnsembleViews(student, teachers)
