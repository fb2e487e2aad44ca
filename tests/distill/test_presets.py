"""Every registered preset: equality with a dense reference, gradients, golden values."""

import json
import os
from pathlib import Path

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.methods import method_arguments

from .references import REFERENCES, cc_taylor, sp

GOLDEN = Path(__file__).with_name("golden_methods.json")
PRESETS = [name for name in graphkd.list_methods() if name in REFERENCES]


def responses(batch=12, classes=10, teacher_dim=24, student_dim=16, seed=0, requires_grad=False):
    """Logits, pooled embeddings and two stage outputs ``(B, C, H, W)`` per network (the
    stage outputs drawn last, so logits and embeddings are those of earlier versions)."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(batch, *shape, generator=generator, dtype=torch.float64)

    teacher, student = (
        Responses(logits=randn(classes) * 3, embedding=randn(dim))
        for dim in (teacher_dim, student_dim)
    )
    for r, dim in ((teacher, teacher_dim), (student, student_dim)):
        r.features = {"stage1": randn(dim // 4, 4, 4), "stage2": randn(dim // 2, 2, 2).relu()}
    if requires_grad:
        for tensor in inputs(student):
            tensor.requires_grad_(True)
    return teacher, student


def inputs(r):
    """The student tensors whose gradients the tests compare."""
    return [r.logits, r.embedding, *r.features.values()]


def make(name, seed=0, **options):
    """The preset with its defaults; trainable heads drawn from ``seed``."""
    torch.manual_seed(seed)
    widths = method_arguments(name, {"teacher_dim": 24, "student_dim": 16})
    return graphkd.create_method(name, **widths, **options)


def test_every_registered_method_has_a_reference():
    assert set(REFERENCES) <= set(graphkd.list_methods())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_equals_dense_reference(name):
    teacher, student = responses()
    distiller = make(name).double()
    out = distiller(teacher, student)
    torch.testing.assert_close(
        out["loss"], REFERENCES[name](teacher, student, distiller), rtol=1e-5, atol=1e-7
    )
    components = [k for k in out if k != "loss"]
    assert components, "a preset reports its named terms"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_gradients_match_reference(name):
    teacher, student = responses(requires_grad=True)
    distiller = make(name).double()
    distiller(teacher, student)["loss"].backward()
    ours = [x.grad for x in inputs(student)]
    heads = [p.grad for p in distiller.parameters()]
    distiller.zero_grad()
    teacher, student = responses(requires_grad=True)
    REFERENCES[name](teacher, student, distiller).backward()
    for mine, reference in zip(ours, [x.grad for x in inputs(student)]):
        if reference is None:
            assert mine is None or mine.abs().max() == 0
        else:
            assert torch.isfinite(mine).all()
            torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-8)
    for mine, parameter in zip(heads, distiller.parameters()):
        torch.testing.assert_close(mine, parameter.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", PRESETS)
def test_identical_samples_stay_finite(name):
    logits = torch.ones(6, 10, requires_grad=True)
    embedding = torch.ones(6, 16, requires_grad=True)
    feature = torch.ones(6, 4, 2, 2, requires_grad=True)
    student = Responses(logits=logits, embedding=embedding, features={"f": feature})
    teacher = Responses(
        logits=torch.ones(6, 10), embedding=torch.ones(6, 24), features={"f": torch.ones(6, 3)}
    )
    loss = make(name)(teacher, student)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    used = [g for g in (logits.grad, embedding.grad, feature.grad) if g is not None]
    assert used and all(torch.isfinite(g).all() for g in used)


@pytest.mark.parametrize("name", PRESETS)
def test_golden_values(name):
    teacher, student = responses(seed=7)
    value = float(make(name).double()(teacher, student)["loss"].detach())
    if os.environ.get("GRAPHKD_REGENERATE_GOLDEN"):
        stored = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        stored[name] = value
        GOLDEN.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert value == pytest.approx(golden[name], rel=1e-6)


@pytest.mark.parametrize("name", PRESETS)
def test_teacher_side_gets_no_gradient(name):
    teacher, student = responses(requires_grad=True)
    for tensor in inputs(teacher):
        tensor.requires_grad_(True)
    make(name).double()(teacher, student)["loss"].backward()
    assert all(tensor.grad is None for tensor in inputs(teacher))


@pytest.mark.parametrize("name", PRESETS)
def test_batch_size_mismatch_is_rejected(name):
    teacher, _ = responses(batch=8)
    _, student = responses(batch=6)
    with pytest.raises(ValueError, match="batch size 8 but the student's 6"):
        make(name).double()(teacher, student)


@pytest.mark.parametrize("name", PRESETS)
def test_nan_inputs_are_rejected(name):
    teacher, student = responses()
    student.logits[0, 0] = float("nan")
    with pytest.raises(ValueError, match="student logits contains NaN"):
        make(name).double()(teacher, student)


@pytest.mark.parametrize("name", PRESETS)
def test_single_sample_batches_are_rejected_by_relational_methods(name):
    teacher, student = responses(batch=1)
    if name in ("kd", "lskd"):
        assert torch.isfinite(make(name)(teacher, student)["loss"])
    else:
        with pytest.raises(ValueError, match="at least 2"):
            make(name).double()(teacher, student)


@pytest.mark.parametrize("name", ["kd", "lskd", "dist"])
def test_class_count_mismatch_is_rejected(name):
    teacher, _ = responses(classes=10)
    _, student = responses(classes=5)
    with pytest.raises(ValueError, match="same number of classes"):
        graphkd.create_method(name)(teacher, student)


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*rkd"):
        graphkd.create_method("no_such_method")


def test_sp_reads_the_pooled_embedding_with_feature_none():
    teacher, student = responses()
    pooled = [
        Responses(r.logits, embedding=r.embedding, features={"last": r.embedding})
        for r in (teacher, student)
    ]
    value = graphkd.create_method("sp", feature=None)(teacher, student)["loss"]
    torch.testing.assert_close(value, sp(*pooled), rtol=1e-6, atol=1e-9)


def test_sp_without_tapped_features_names_the_fix():
    teacher, student = responses()
    bare = [Responses(r.logits, embedding=r.embedding) for r in (teacher, student)]
    with pytest.raises(ValueError, match="feature=None"):
        graphkd.create_method("sp")(*bare)


def test_cc_taylor_form_is_the_papers_rbf_correlation():
    teacher, student = responses(requires_grad=True)
    value = graphkd.create_method("cc", form="taylor")(teacher, student)["loss"]
    value.backward()
    ours = student.embedding.grad
    teacher, student = responses(requires_grad=True)
    expected = cc_taylor(teacher, student)
    expected.backward()
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(ours, student.embedding.grad, rtol=1e-5, atol=1e-9)


def test_cc_heads_train_and_bad_options_are_rejected():
    distiller = make("cc").double()
    teacher, student = responses()
    distiller(teacher, student)["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in distiller.parameters())
    with pytest.raises(ValueError, match="teacher_dim and student_dim"):
        graphkd.create_method("cc")
    with pytest.raises(ValueError, match="unknown cc form 'rbf'"):
        graphkd.create_method("cc", form="rbf")
