"""Every registered preset: equality with a dense reference, gradients, golden values."""

import json
import os
from pathlib import Path

import pytest
import torch

import graphkd
from graphkd import Responses

from .references import REFERENCES

GOLDEN = Path(__file__).with_name("golden_methods.json")
PRESETS = [name for name in graphkd.list_methods() if name in REFERENCES]


def responses(batch=12, classes=10, teacher_dim=24, student_dim=16, seed=0, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)

    def make(dim):
        return Responses(
            logits=torch.randn(batch, classes, generator=generator, dtype=torch.float64) * 3,
            embedding=torch.randn(batch, dim, generator=generator, dtype=torch.float64),
        )

    teacher, student = make(teacher_dim), make(student_dim)
    if requires_grad:
        student.logits.requires_grad_(True)
        student.embedding.requires_grad_(True)
    return teacher, student


def test_every_registered_method_has_a_reference():
    assert set(REFERENCES) <= set(graphkd.list_methods())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_equals_dense_reference(name):
    teacher, student = responses()
    out = graphkd.create_method(name)(teacher, student)
    torch.testing.assert_close(
        out["loss"], REFERENCES[name](teacher, student), rtol=1e-5, atol=1e-7
    )
    components = [k for k in out if k != "loss"]
    assert components, "a preset reports its named terms"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_gradients_match_reference(name):
    teacher, student = responses(requires_grad=True)
    graphkd.create_method(name)(teacher, student)["loss"].backward()
    ours = [student.logits.grad, student.embedding.grad]
    teacher, student = responses(requires_grad=True)
    REFERENCES[name](teacher, student).backward()
    for mine, reference in zip(ours, [student.logits.grad, student.embedding.grad]):
        if reference is None:
            assert mine is None or mine.abs().max() == 0
        else:
            assert torch.isfinite(mine).all()
            torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", PRESETS)
def test_identical_samples_stay_finite(name):
    logits = torch.ones(6, 10, requires_grad=True)
    embedding = torch.ones(6, 8, requires_grad=True)
    student = Responses(logits=logits, embedding=embedding)
    teacher = Responses(logits=torch.ones(6, 10), embedding=torch.ones(6, 8))
    loss = graphkd.create_method(name)(teacher, student)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    used = [g for g in (logits.grad, embedding.grad) if g is not None]
    assert used and all(torch.isfinite(g).all() for g in used)


@pytest.mark.parametrize("name", PRESETS)
def test_golden_values(name):
    teacher, student = responses(seed=7)
    value = float(graphkd.create_method(name)(teacher, student)["loss"])
    if os.environ.get("GRAPHKD_REGENERATE_GOLDEN"):
        stored = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        stored[name] = value
        GOLDEN.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert value == pytest.approx(golden[name], rel=1e-6)


@pytest.mark.parametrize("name", PRESETS)
def test_teacher_side_gets_no_gradient(name):
    teacher, student = responses(requires_grad=True)
    teacher.logits.requires_grad_(True)
    teacher.embedding.requires_grad_(True)
    graphkd.create_method(name)(teacher, student)["loss"].backward()
    assert teacher.logits.grad is None and teacher.embedding.grad is None


@pytest.mark.parametrize("name", PRESETS)
def test_batch_size_mismatch_is_rejected(name):
    teacher, _ = responses(batch=8)
    _, student = responses(batch=6)
    with pytest.raises(ValueError, match="batch size 8 but the student's 6"):
        graphkd.create_method(name)(teacher, student)


@pytest.mark.parametrize("name", PRESETS)
def test_nan_inputs_are_rejected(name):
    teacher, student = responses()
    student.logits[0, 0] = float("nan")
    with pytest.raises(ValueError, match="student logits contains NaN"):
        graphkd.create_method(name)(teacher, student)


@pytest.mark.parametrize("name", PRESETS)
def test_single_sample_batches_are_rejected_by_relational_methods(name):
    teacher, student = responses(batch=1)
    if name in ("kd", "lskd"):
        assert torch.isfinite(graphkd.create_method(name)(teacher, student)["loss"])
    else:
        with pytest.raises(ValueError, match="at least 2"):
            graphkd.create_method(name)(teacher, student)


@pytest.mark.parametrize("name", ["kd", "lskd", "dist"])
def test_class_count_mismatch_is_rejected(name):
    teacher, _ = responses(classes=10)
    _, student = responses(classes=5)
    with pytest.raises(ValueError, match="same number of classes"):
        graphkd.create_method(name)(teacher, student)


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*rkd"):
        graphkd.create_method("crd")
