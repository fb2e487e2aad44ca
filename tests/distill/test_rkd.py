"""RKD's Gram path against its explicit-edge path and a dense reference."""

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.presets.rkd import angle_smooth_l1, gram_distances, rkd_graph

from .references import _angles, _pdist


def pair(batch=11, teacher_dim=9, student_dim=6, seed=0, dtype=torch.float64, offset=0.0):
    generator = torch.Generator().manual_seed(seed)

    def make(dim):
        embedding = torch.randn(batch, dim, generator=generator, dtype=dtype) + offset
        return Responses(
            torch.randn(batch, 3, generator=generator, dtype=dtype), embedding=embedding
        )

    teacher, student = make(teacher_dim), make(student_dim)
    student.embedding.requires_grad_(True)
    return teacher, student


def run(path, teacher, student, chunk=None):
    distiller = graphkd.create_method("rkd", path=path)
    distiller.chunk = chunk
    out = distiller(teacher, student)
    (grad,) = torch.autograd.grad(out["loss"], student.embedding)
    return out, grad


@pytest.mark.parametrize("chunk", [None, 1, 4, 11, 50])
@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_gram_path_equals_explicit_path(chunk, offset):
    teacher, student = pair(offset=offset)
    explicit, explicit_grad = run("explicit", teacher, student)
    gram, gram_grad = run("gram", teacher, student, chunk)
    assert gram["loss"].requires_grad
    for name in ("loss", "distance", "angle"):
        torch.testing.assert_close(gram[name], explicit[name], rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(gram_grad, explicit_grad, rtol=1e-9, atol=1e-12)


def test_auto_path_is_gram():
    assert graphkd.create_method("rkd").path == "gram"
    assert graphkd.create_method("rkd", path="explicit").path == "explicit"


def test_angle_term_equals_dense_triplet_angles():
    teacher, student = pair(batch=7, seed=3)
    s, t = student.embedding, teacher.embedding
    value = angle_smooth_l1(s, t, chunk=2)
    (grad,) = torch.autograd.grad(value, s)
    dense = torch.nn.functional.smooth_l1_loss(_angles(s), _angles(t))
    (dense_grad,) = torch.autograd.grad(dense, s)
    torch.testing.assert_close(value, dense, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(grad, dense_grad, rtol=1e-9, atol=1e-12)


def test_gram_distances_equal_the_graph_field():
    _, student = pair(batch=8)
    x = student.embedding.detach()
    centred = x - x.mean(0)
    field = rkd_graph(student).edata["distance"]
    torch.testing.assert_close(gram_distances(centred @ centred.t(), 1e-12).reshape(-1), field)
    plain = _pdist(x)
    torch.testing.assert_close(
        gram_distances(centred @ centred.t(), 1e-12), plain / plain[plain > 0].mean()
    )


def test_coincident_and_identical_samples_stay_finite():
    teacher, student = pair(batch=6)
    with torch.no_grad():
        student.embedding[3] = student.embedding[1]  # a coincident pair
        teacher.embedding[4] = teacher.embedding[0]
    explicit, _ = run("explicit", teacher, student)
    gram, grad = run("gram", teacher, student)
    torch.testing.assert_close(gram["loss"], explicit["loss"], rtol=1e-10, atol=1e-13)
    assert torch.isfinite(grad).all()
    for value in (0.0, 1.0):  # all-zero and all-identical batches
        same = torch.full((5, 4), value, requires_grad=True)
        out = graphkd.create_method("rkd")(
            Responses(torch.zeros(5, 3), embedding=torch.full((5, 4), value)),
            Responses(torch.zeros(5, 3), embedding=same),
        )
        (grad,) = torch.autograd.grad(out["loss"], same)
        assert float(out["loss"].detach()) == 0.0 and torch.equal(grad, torch.zeros_like(grad))


def test_float32_and_autocast_agree_with_float64():
    teacher, student = pair(batch=16, dtype=torch.float64, offset=3.0)
    reference, _ = run("explicit", teacher, student)
    as32 = [r.map(lambda x: x.detach().float()) for r in (teacher, student)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = graphkd.create_method("rkd")(*as32)
    assert out["loss"].dtype == torch.float32
    torch.testing.assert_close(out["loss"].double(), reference["loss"], rtol=1e-5, atol=1e-6)


def test_gram_path_saves_no_batch_cubed_or_difference_tensor():
    batch, dim = 24, 40
    teacher, student = pair(batch=batch, teacher_dim=dim, student_dim=dim, dtype=torch.float32)
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel())
        return tensor

    for path, bound in (("gram", max(batch * batch, batch * dim)), ("explicit", None)):
        sizes.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            graphkd.create_method("rkd", path=path)(teacher, student)["loss"].backward()
        if bound is not None:
            assert max(sizes) <= bound
        else:  # the explicit path keeps B^2 x D differences and B^3 angles
            assert max(sizes) >= batch**3


def test_bad_path_and_chunk_are_rejected():
    with pytest.raises(ValueError, match="unknown path 'dense'"):
        graphkd.create_method("rkd", path="dense")
    teacher, student = pair()
    with pytest.raises(ValueError, match="chunk must be a positive"):
        angle_smooth_l1(student.embedding, teacher.embedding, chunk=0)
    with pytest.raises(ValueError, match="equal B"):
        angle_smooth_l1(student.embedding, teacher.embedding[:5])
