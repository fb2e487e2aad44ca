"""SVD embeddings: equal to torch.linalg.svd up to sign, finite gradients at repeated values."""

import pytest
import torch

from graphkd.graphs.svd_embedding import svd_embedding, top_right_singular_vectors

# (B, D, H, W): D < HW uses the channel Gram matrix, D > HW the position Gram matrix.
SHAPES = [(3, 6, 3, 3), (3, 12, 2, 2), (3, 5, 1, 1)]


def dense_vectors(maps, k):
    """Leading right-singular vectors by torch.linalg.svd, as (B, k, D)."""
    x = maps.reshape(maps.shape[0], maps.shape[1], -1).transpose(1, 2)
    return torch.linalg.svd(x, full_matrices=False).Vh[:, :k]


def with_singular_values(values, positions, channels, seed=0):
    """One map (1, D, positions, 1) whose X (positions x D) has the given singular values."""
    generator = torch.Generator().manual_seed(seed)
    left, _ = torch.linalg.qr(
        torch.randn(positions, positions, generator=generator, dtype=torch.float64)
    )
    right, _ = torch.linalg.qr(
        torch.randn(channels, channels, generator=generator, dtype=torch.float64)
    )
    r = len(values)
    x = left[:, :r] @ torch.diag(torch.tensor(values, dtype=torch.float64)) @ right[:, :r].t()
    return x.t().reshape(1, channels, positions, 1).clone()


@pytest.mark.parametrize("shape", SHAPES)
def test_vectors_equal_torch_svd_up_to_sign(shape):
    maps = torch.randn(*shape, dtype=torch.float64)
    k = min(4, shape[1], shape[2] * shape[3])
    ours = top_right_singular_vectors(maps, k)
    reference = dense_vectors(maps, k)
    assert ours.shape == (shape[0], k, shape[1])
    sign = torch.sign((ours * reference).sum(-1, keepdim=True))
    torch.testing.assert_close(ours, reference * sign, rtol=1e-8, atol=1e-8)


def test_several_threads_give_the_same_vectors_and_are_restored_after():
    """The eigendecomposition runs with one thread and puts the caller's count back."""
    maps = torch.randn(3, 6, 3, 3, dtype=torch.float64)
    previous = torch.get_num_threads()
    one = top_right_singular_vectors(maps, 3)
    torch.set_num_threads(2)
    try:
        two = top_right_singular_vectors(maps, 3)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    torch.testing.assert_close(two, one, rtol=1e-10, atol=1e-10)


def test_signs_make_entry_sums_non_negative_and_relu_maps_positive():
    ours = top_right_singular_vectors(torch.randn(4, 8, 3, 3, dtype=torch.float64), 3)
    assert (ours.sum(-1) >= 0).all()
    top = svd_embedding(torch.rand(4, 8, 3, 3, dtype=torch.float64))
    assert (top >= -1e-12).all()
    torch.testing.assert_close(top.norm(dim=1), torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("shape", SHAPES[:2])
def test_exact_gradient_matches_finite_differences(shape):
    maps = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: top_right_singular_vectors(m, 3, eps=0.0), (maps,))


@pytest.mark.parametrize("shape", SHAPES[:2])
def test_regularised_gradient_is_close_to_exact_for_separated_values(shape):
    maps = with_singular_values([5.0, 4.0, 3.0, 2.0], shape[2] * shape[3], shape[1])
    maps = maps.repeat(2, 1, 1, 1).requires_grad_(True)
    weights = torch.randn(2, 3, shape[1], dtype=torch.float64)
    grads = []
    for eps in (0.0, 1e-4):
        (grad,) = torch.autograd.grad(
            (top_right_singular_vectors(maps, 3, eps=eps) * weights).sum(), maps
        )
        grads.append(grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("positions, channels", [(16, 6), (4, 10)])
@pytest.mark.parametrize("tie", [0.0, 1e-9])
def test_gradients_stay_finite_and_bounded_at_repeated_singular_values(positions, channels, tie):
    values = [3.0, 3.0 + tie, 3.0, 1.0]
    maps = with_singular_values(values, positions, channels).requires_grad_(True)
    weights = torch.randn(1, 4, channels, dtype=torch.float64)
    (grad,) = torch.autograd.grad((top_right_singular_vectors(maps, 4) * weights).sum(), maps)
    assert torch.isfinite(grad).all()
    assert grad.abs().max() < 1e4  # |1/(2 eps s_1^2)| * |X| * |weights| bounds it
    for dtype in (torch.float64, torch.float32):
        reference = torch.nn.functional.normalize(torch.randn(1, channels, dtype=dtype), dim=1)
        student = svd_embedding(maps.to(dtype), reference=reference)
        (grad,) = torch.autograd.grad((student * reference).sum(), maps)
        assert torch.isfinite(grad).all() and grad.abs().max() < 1e4


@pytest.mark.parametrize("shape", SHAPES)
def test_student_keeps_the_candidate_best_aligned_with_the_reference(shape):
    maps = torch.randn(*shape, dtype=torch.float64)
    k = min(4, shape[1], shape[2] * shape[3])
    candidates = dense_vectors(maps, k)
    pick = torch.randint(0, k, (shape[0],))
    flips = torch.where(torch.rand(shape[0], 1) < 0.5, -1.0, 1.0).to(torch.float64)
    target = candidates[torch.arange(shape[0]), pick] * flips
    noisy = torch.nn.functional.normalize(target + 0.05 * torch.randn_like(target), dim=1)
    chosen = svd_embedding(maps, reference=noisy)
    torch.testing.assert_close(chosen, target, rtol=1e-8, atol=1e-8)


def test_student_alignment_follows_a_dense_reference():
    maps = torch.randn(5, 7, 3, 3, dtype=torch.float64)
    reference = torch.nn.functional.normalize(torch.randn(5, 7, dtype=torch.float64), dim=1)
    candidates = dense_vectors(maps, 4)
    cosine = (candidates * reference.unsqueeze(1)).sum(-1)
    best = cosine.abs().argmax(1)
    rows = torch.arange(5)
    expected = candidates[rows, best] * torch.sign(cosine[rows, best]).unsqueeze(1)
    torch.testing.assert_close(svd_embedding(maps, reference=reference), expected)


def test_student_gradient_matches_finite_differences():
    maps = torch.randn(2, 5, 3, 3, dtype=torch.float64, requires_grad=True)
    reference = torch.nn.functional.normalize(torch.randn(2, 5, dtype=torch.float64), dim=1)
    assert torch.autograd.gradcheck(
        lambda m: svd_embedding(m, reference=reference, eps=0.0), (maps,)
    )


def test_projection_maps_candidates_to_the_reference_width():
    project = torch.nn.Linear(6, 9, bias=False).double()
    maps = torch.randn(3, 6, 4, 4, dtype=torch.float64, requires_grad=True)
    reference = torch.nn.functional.normalize(torch.randn(3, 9, dtype=torch.float64), dim=1)
    out = svd_embedding(maps, reference=reference, project=project)
    projected = torch.nn.functional.normalize(project(dense_vectors(maps.detach(), 4)), dim=-1)
    cosine = (projected * reference.unsqueeze(1)).sum(-1)
    best = cosine.abs().argmax(1)
    rows = torch.arange(3)
    expected = projected[rows, best] * torch.sign(cosine[rows, best]).unsqueeze(1)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert torch.isfinite(maps.grad).all() and project.weight.grad is not None


# --- degenerate inputs: values and gradients stay finite -------------------------------------


@pytest.mark.parametrize("shape", SHAPES[:2])
def test_huge_and_tiny_maps_give_the_vectors_of_the_rescaled_map(shape):
    """Squares of 1e20 overflow float32 (the Gram matrix would hold Inf and LAPACK fail)."""
    maps = torch.rand(*shape, dtype=torch.float64)
    scales = torch.tensor([1e20, 1e-20, 1.0], dtype=torch.float64).view(3, 1, 1, 1)
    wide = (maps * scales).float().requires_grad_(True)
    ours = top_right_singular_vectors(wide, 2)
    reference = dense_vectors(maps, 2)
    sign = torch.sign((ours.double() * reference).sum(-1, keepdim=True))
    torch.testing.assert_close(ours.double(), reference * sign, rtol=1e-4, atol=1e-4)
    weights = torch.randn(3, 2, shape[1])
    (grad,) = torch.autograd.grad((ours * weights).sum(), wide)
    assert torch.isfinite(grad).all()
    # the vectors are scale-free, so the gradient scales as 1 / scale
    exact = maps.clone().requires_grad_(True)
    (grad_exact,) = torch.autograd.grad(
        (top_right_singular_vectors(exact, 2) * weights.double()).sum(), exact
    )
    torch.testing.assert_close(grad.double() * scales, grad_exact, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("positions, channels", [(16, 6), (4, 10)])
def test_rank_deficient_and_all_zero_maps_give_zero_vectors_with_finite_gradients(
    positions, channels
):
    """Singular values beyond the rank have no direction: zero vectors, zero gradients."""
    rank_one = with_singular_values([2.0], positions, channels)
    zero = torch.zeros_like(rank_one)
    for dtype in (torch.float64, torch.float32):
        maps = torch.cat([rank_one, zero]).to(dtype).requires_grad_(True)
        vectors = top_right_singular_vectors(maps, 3)
        reference = dense_vectors(rank_one, 1)[0, 0].to(dtype)
        sign = torch.sign(vectors[0, 0] @ reference)
        torch.testing.assert_close(vectors[0, 0], sign * reference)
        assert (vectors[0, 1:] == 0).all() and (vectors[1] == 0).all()
        weights = torch.randn(2, 3, channels, dtype=dtype)
        (grad,) = torch.autograd.grad((vectors * weights).sum(), maps)
        assert torch.isfinite(grad).all() and grad.abs().max() < 1e3
        assert (grad[1] == 0).all()
        teacher = svd_embedding(maps.detach())
        student = svd_embedding(maps, reference=teacher)
        (grad,) = torch.autograd.grad((student * teacher).sum(), maps)
        assert torch.isfinite(grad).all()


def test_a_failed_float32_eigendecomposition_is_retried_in_float64(monkeypatch):
    maps = torch.randn(3, 6, 3, 3, requires_grad=True)
    expected = top_right_singular_vectors(maps.detach(), 2)
    lapack = torch.linalg.eigh
    calls = []

    def fails_in_float32(matrix):
        calls.append(matrix.dtype)
        if matrix.dtype == torch.float32:
            raise torch.linalg.LinAlgError("linalg.eigh: the algorithm failed to converge")
        return lapack(matrix)

    monkeypatch.setattr(torch.linalg, "eigh", fails_in_float32)
    ours = top_right_singular_vectors(maps, 2)
    assert calls == [torch.float32, torch.float64] and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
    ours.sum().backward()
    assert torch.isfinite(maps.grad).all()


def test_non_finite_maps_or_a_failure_in_float64_raise_a_clear_error(monkeypatch):
    maps = torch.randn(2, 6, 3, 3, dtype=torch.float64)
    maps[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="hold NaN or Inf values; check the learning rate"):
        top_right_singular_vectors(maps, 1)

    def never_converges(matrix):
        raise torch.linalg.LinAlgError("linalg.eigh: the algorithm failed to converge")

    monkeypatch.setattr(torch.linalg, "eigh", never_converges)
    with pytest.raises(ValueError, match="failed to converge even in float64"):
        top_right_singular_vectors(torch.randn(2, 6, 3, 3), 1)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="at most 4"):
        top_right_singular_vectors(torch.randn(2, 8, 2, 2), k=5)
    with pytest.raises(ValueError, match="channels in dim 1"):
        top_right_singular_vectors(torch.randn(5))
    with pytest.raises(ValueError, match="same width"):
        svd_embedding(torch.randn(2, 8, 2, 2), reference=torch.randn(2, 6))
