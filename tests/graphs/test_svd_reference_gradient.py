"""MHGD's reference SVD gradient against the exact one, with finite differences as the judge.

The reference implementation of MHGD (KD_methods_with_TF, ``nets/SVP.py``, called by
``nets/Relation.py`` as ``SVD_eid(teacher_map, 1)`` and ``SVD_eid(student_map, 4)``)
reads a map as ``X`` of ``P = HW`` positions by ``D`` channels and decomposes a
stop-gradient copy of it. Its gradient with respect to ``X`` is then whatever its
hand-written rule gives, by regime (translated here in our own terms, independently of
graphkd's implementation; ``X = U S V^T`` the thin SVD, ``G`` the gradient with respect to
``V``, reduced to its part orthogonal to each column since the reference L2-normalises the
vectors it returns, ``K[i, j] = 1 / (s_j^2 - s_i^2)`` off the diagonal and 0 on it and for
equal values, ``sym(A) = A + A^T``):

- ``2/3 < P/D < 3/2``: the SVD of the stop-gradient copy has no rule: zero;
- ``P >= D`` (eigendecomposition of ``X^T X``): ``2 U S sym(K * V^T G) V^T``;
- ``P < D`` (SVD of ``X X^T``): with ``Gs = G diag(1 / (s + 1e-8))``, the transpose of
  ``(Gs - V [Diag(V^T Gs) + 2 S sym(K * Gs^T V S)]) U^T``.

Measured on small float64 maps (``measured``: the least-squares factor between the
reference's gradient and the finite-difference one, and what is left over): exactly 2 where
``P >= D`` (the whole exact gradient rotates the vectors among themselves, and the rule
doubles it), 0 in the band, and where ``P < D`` no factor at all: the part of the gradient
that moves the vectors out of the span of the map's rows is exact, the part within that
span (the vectors rotating among themselves) is not (about 1.6 times it, with a quarter
to a half left over), so the overall factor depends on the map (1.33 and 1.13, with 0.34
and 0.27 of the reference's gradient left over, on the first two maps below).
"""

from __future__ import annotations

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.graphs.svd_embedding import svd_embedding, top_right_singular_vectors

#: (channels D, height, width): P = height * width positions.
TWICE = [(4, 3, 3), (3, 2, 3), (4, 2, 3)]  # P/D = 2.25, 2, and 1.5 (the band is open)
BAND = [(4, 2, 2), (5, 2, 3), (8, 2, 3)]  # P/D = 1, 1.2, 0.75
INEXACT = [(9, 2, 2), (16, 2, 2), (6, 2, 2)]  # P/D = 0.44, 0.25, and 2/3 (open band)
K = 2


def maps(shape, seed=0, batch=2):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, *shape, generator=generator, dtype=torch.float64)


def weights(shape, seed=1, batch=2, k=K):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, k, shape[0], generator=generator, dtype=torch.float64)


def loss(features, c, **options):
    """``sum_i <c_i, v_i>`` over the top vectors (signs fixed: entries sum >= 0)."""
    return (top_right_singular_vectors(features, c.shape[1], **options) * c).sum()


def finite_differences(features, c, step=1e-6):
    grad = torch.zeros_like(features)
    flat, out = features.reshape(-1), grad.reshape(-1)
    for index in range(flat.numel()):
        plus, minus = flat.clone(), flat.clone()
        plus[index] += step
        minus[index] -= step
        up = loss(plus.reshape(features.shape), c, eps=0.0)
        down = loss(minus.reshape(features.shape), c, eps=0.0)
        out[index] = (up - down) / (2 * step)
    return grad


def autograd(features, c, **options):
    leaf = features.clone().requires_grad_()
    (grad,) = torch.autograd.grad(loss(leaf, c, **options), leaf)
    return grad


def _sym(matrix):
    return matrix + matrix.T


def reference_rule(x, grad_top):
    """The reference's gradient with respect to one map ``x`` (P, D), given the gradient
    ``grad_top`` (D, k) with respect to its top ``k`` right-singular vectors."""
    positions, channels = x.shape
    if 2 / 3 < positions / channels < 3 / 2:
        return torch.zeros_like(x)
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    v = vh.T
    g = torch.zeros_like(v)
    g[:, : grad_top.shape[1]] = grad_top
    g = g - v * (v * g).sum(0)  # the reference returns l2_normalize(v): tangent part only
    gap = s.square()[None, :] - s.square()[:, None]  # gap[i, j] = s_j^2 - s_i^2
    inverse = torch.where(gap != 0, 1 / torch.where(gap != 0, gap, 1.0), 0.0)
    inverse.fill_diagonal_(0)
    if positions >= channels:
        return 2 * u @ torch.diag(s) @ _sym(inverse * (v.T @ g)) @ v.T
    scaled = g / (s + 1e-8)
    inner = torch.diag(torch.diag(v.T @ scaled)) + 2 * torch.diag(s) @ _sym(
        inverse * (scaled.T @ v @ torch.diag(s))
    )
    return ((scaled - v @ inner) @ u.T).T


def reference_gradient(features, c):
    """The reference rule applied to every map of the batch, for :func:`loss`."""
    grads = []
    for feature, weight in zip(features, c):
        x = feature.flatten(1).T  # (P, D)
        v = torch.linalg.svd(x, full_matrices=False).Vh[: weight.shape[0]]
        # graphkd's vectors have entries summing to >= 0; d loss / d (raw v_i) = sign_i c_i
        sign = torch.where(v.sum(1, keepdim=True) < 0, -1.0, 1.0)
        grads.append(reference_rule(x, (sign * weight).T).T.reshape(feature.shape))
    return torch.stack(grads)


def measured(reference, truth):
    """Least-squares factor ``f`` with ``reference ~ f * truth`` and the relative residual."""
    factor = float((reference * truth).sum() / truth.square().sum())
    left = float((reference - factor * truth).norm() / reference.norm().clamp_min(1e-300))
    return factor, left


@pytest.mark.parametrize("shape", TWICE + BAND + INEXACT)
def test_graphkds_gradient_equals_finite_differences(shape):
    features, c = maps(shape), weights(shape)
    truth = finite_differences(features, c)
    torch.testing.assert_close(autograd(features, c, eps=0.0), truth, rtol=1e-6, atol=1e-8)
    # the default regularisation (svd_eps 1e-4) is exact up to (eps / gap)^2 per pair of
    # values: within 1e-3 of the whole gradient here (4e-4 on the 2x2 maps, whose lower
    # singular values lie close together)
    default = autograd(features, c)
    assert float((default - truth).norm() / truth.norm()) < 1e-3


@pytest.mark.parametrize("shape", TWICE)
def test_the_reference_gradient_is_twice_the_true_one_where_hw_is_at_least_1_5_d(shape):
    features, c = maps(shape), weights(shape)
    factor, left = measured(reference_gradient(features, c), finite_differences(features, c))
    assert factor == pytest.approx(2.0, abs=1e-6)
    assert left < 1e-6


@pytest.mark.parametrize("shape", BAND)
def test_the_reference_gradient_is_zero_where_hw_over_d_lies_between_2_3_and_3_2(shape):
    features, c = maps(shape), weights(shape)
    truth = finite_differences(features, c)
    assert truth.norm() > 0.1
    assert measured(reference_gradient(features, c), truth) == (0.0, 0.0)


@pytest.mark.parametrize("shape", INEXACT)
def test_the_reference_gradient_is_inexact_where_hw_is_below_d(shape):
    features, c = maps(shape), weights(shape)
    truth = finite_differences(features, c)
    reference = reference_gradient(features, c)
    factor, left = measured(reference, truth)
    # no factor relates the two: a fifth or more of the reference's gradient is left over
    assert 1.05 < factor < 1.9 and left > 0.2
    # the part of each row orthogonal to the map's right-singular vectors (which span its
    # rows) is exact; the part along them is not a multiple of the true one
    x = features.flatten(2).transpose(1, 2)
    v = torch.linalg.svd(x, full_matrices=False).Vh  # (B, P, D)

    def split(grad):
        rows = grad.flatten(2).transpose(1, 2)
        along = rows @ v.transpose(1, 2) @ v
        return along, rows - along

    (ref_along, ref_across), (true_along, true_across) = split(reference), split(truth)
    torch.testing.assert_close(ref_across, true_across, rtol=1e-6, atol=1e-6)
    factor_along, left_along = measured(ref_along, true_along)
    assert 1.3 < factor_along < 1.9 and left_along > 0.2


def test_the_measured_factors_per_regime():
    """The numbers the MHGD page quotes."""
    factors = {}
    for shape in (TWICE[0], BAND[0], INEXACT[0], INEXACT[1]):
        features, c = maps(shape), weights(shape)
        factors[shape] = measured(reference_gradient(features, c), finite_differences(features, c))
    assert factors[TWICE[0]] == (pytest.approx(2.0, abs=1e-6), pytest.approx(0.0, abs=1e-6))
    assert factors[BAND[0]] == (0.0, 0.0)
    assert factors[INEXACT[0]] == (pytest.approx(1.33, abs=0.01), pytest.approx(0.34, abs=0.01))
    assert factors[INEXACT[1]] == (pytest.approx(1.13, abs=0.01), pytest.approx(0.27, abs=0.01))


@pytest.mark.parametrize("shape", TWICE + BAND + INEXACT)
def test_the_reference_option_reproduces_the_translated_rule(shape):
    features, c = maps(shape), weights(shape)
    ours = autograd(features, c, gradient="reference")
    torch.testing.assert_close(ours, reference_gradient(features, c), rtol=1e-7, atol=1e-9)
    values = top_right_singular_vectors(features, K, gradient="reference")
    torch.testing.assert_close(values, top_right_singular_vectors(features, K))


@pytest.mark.parametrize("shape", [TWICE[0], INEXACT[0]])
def test_the_option_flows_through_the_students_aligned_embedding(shape):
    features, teacher = maps(shape), svd_embedding(maps(shape, seed=5))
    generator = torch.Generator().manual_seed(3)
    c = torch.randn(2, shape[0], generator=generator, dtype=torch.float64)
    grads = {}
    for gradient in ("exact", "reference"):
        leaf = features.clone().requires_grad_()
        out = svd_embedding(leaf, reference=teacher, eps=0.0, gradient=gradient)
        (grads[gradient],) = torch.autograd.grad((out * c).sum(), leaf)
    # the same rule on the chosen candidate, its sign matched to the teacher
    candidates = top_right_singular_vectors(features, 4 if shape[0] > 4 else 2)
    cosine = (candidates * teacher[:, None]).sum(-1)
    best = cosine.abs().argmax(1)
    weight = torch.zeros_like(candidates)
    for sample in range(2):
        sign = torch.sign(cosine[sample, best[sample]])
        weight[sample, best[sample]] = sign * c[sample]
    torch.testing.assert_close(grads["reference"], reference_gradient(features, weight))
    torch.testing.assert_close(grads["exact"], finite_differences(features, weight))


def test_mhgd_trains_with_the_reference_gradient_on_request():
    channels = {"layer1": 4, "layer2": 4}
    shapes = {"layer1": (4, 3, 3), "layer2": (4, 2, 2)}  # P/D = 2.25 (twice), 1 (zero)
    generator = torch.Generator().manual_seed(0)

    def responses(requires_grad):
        features = {
            name: torch.rand(6, *shape, generator=generator, dtype=torch.float64)
            for name, shape in shapes.items()
        }
        for feature in features.values():
            feature.requires_grad_(requires_grad)
        logits = torch.randn(6, 10, generator=generator, dtype=torch.float64)
        return Responses(logits, features=features)

    teacher, student = responses(False), responses(True)
    grads = {}
    for gradient in ("exact", "reference"):
        torch.manual_seed(0)
        method = graphkd.create_method(
            "mhgd",
            teacher_channels=channels,
            student_channels=channels,
            heads=2,
            svd_eps=0.0,
            svd_gradient=gradient,
        ).double()
        method.set_stage("transfer")
        assert method.svd_gradient == gradient
        loss_value = method(teacher, student)["loss"]
        grads[gradient] = torch.autograd.grad(loss_value, list(student.features.values()))
    (exact1, exact2), (reference1, reference2) = grads["exact"], grads["reference"]
    assert exact1.norm() > 0 and exact2.norm() > 0
    torch.testing.assert_close(reference1, 2 * exact1)
    assert reference2.abs().max() == 0


def test_unknown_gradient_rules_are_rejected():
    with pytest.raises(ValueError, match="'exact', 'reference'"):
        top_right_singular_vectors(maps(TWICE[0]), 1, gradient="paper")
    with pytest.raises(ValueError, match="svd_gradient"):
        graphkd.create_method(
            "mhgd",
            teacher_channels={"a": 4, "b": 4},
            student_channels={"a": 4, "b": 4},
            svd_gradient="twice",
        )
