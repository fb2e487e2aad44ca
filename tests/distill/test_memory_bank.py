"""MemoryBank: initialisation, momentum update, scores, storage types, state_dict, ranks."""

import io
import math

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from graphkd.distill import memory_bank
from graphkd.distill.memory_bank import MemoryBank
from graphkd.engine.distributed import end_process_group


def test_initial_rows_are_uniform_in_the_bound():
    bank = MemoryBank(4000, dim=128)
    bound = 1 / math.sqrt(128 / 3)
    memory = bank.memory
    assert memory.shape == (4000, 128) and memory.dtype == torch.float32
    assert memory.abs().max() <= bound and memory.abs().max() > 0.99 * bound
    assert abs(float(memory.mean())) < 0.01 * bound
    assert float(memory.std()) == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert float(memory.norm(dim=1).mean()) == pytest.approx(1.0, abs=0.01)  # unit on average


def test_update_follows_the_momentum_rule_at_the_given_rows_only():
    bank = MemoryBank(10, dim=4, momentum=0.9).double()
    before = bank.memory.clone()
    index = torch.tensor([7, 2, 5])
    embedding = F.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)
    bank.update(index, embedding)
    for row, i in enumerate(index.tolist()):
        mixed = 0.9 * before[i] + 0.1 * embedding[row]
        torch.testing.assert_close(bank.memory[i], mixed / mixed.norm())
    untouched = [i for i in range(10) if i not in index.tolist()]
    assert torch.equal(bank.memory[untouched], before[untouched])
    torch.testing.assert_close(bank(index), bank.memory[index])


def test_float16_storage_computes_in_float32():
    bank = MemoryBank(10, dim=8, dtype="float16")
    assert bank.memory.dtype == torch.float16 and bank.compute_dtype == torch.float32
    before = bank.memory.clone()
    index = torch.tensor([1, 4])
    embedding = F.normalize(torch.randn(2, 8), dim=1)
    bank.update(index, embedding)
    mixed = 0.9 * before[index].float() + 0.1 * embedding
    expected = (mixed / mixed.norm(dim=1, keepdim=True)).half()
    assert torch.equal(bank.memory[index], expected)
    assert bank(index).dtype == torch.float32
    anchors = torch.randn(2, 8)
    negatives = torch.tensor([[0, 3], [9, 4]])
    reference = torch.einsum("bd,bkd->bk", anchors, bank.memory[negatives].float())
    torch.testing.assert_close(bank.scores(anchors, negatives), reference)


@pytest.mark.parametrize("dense_ratio", [MemoryBank.DENSE_RATIO, 0])  # 80 <= 32 K: dense
@pytest.mark.parametrize("grouped", [False, True])
def test_scores_equal_explicit_dot_products(dense_ratio, grouped):
    num_samples = 80
    bank = MemoryBank(num_samples, dim=6).double()
    bank.DENSE_RATIO = dense_ratio  # 0: gather the (B, K, D) rows
    index = torch.randint(0, num_samples, (5, 4))
    shape = (5, 2, 6) if grouped else (5, 6)
    anchors = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    out = bank.scores(anchors, index)
    rows = bank.memory[index]  # (5, 4, 6)
    if grouped:
        expected = torch.stack([(anchors[:, m, None, :] * rows).sum(-1) for m in range(2)], 1)
    else:
        expected = (anchors[:, None, :] * rows).sum(-1)
    torch.testing.assert_close(out, expected)
    weights = torch.randn_like(out)
    (grad,) = torch.autograd.grad((out * weights).sum(), anchors)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), anchors)
    torch.testing.assert_close(grad, expected_grad)
    assert torch.autograd.gradcheck(lambda a: bank.scores(a, index), (anchors,))


def test_state_dict_saves_and_restores_the_bank():
    bank = MemoryBank(20, dim=8, dtype="float16")
    bank.update(torch.arange(5), F.normalize(torch.randn(5, 8), dim=1))
    buffer = io.BytesIO()
    torch.save(bank.state_dict(), buffer)
    restored = MemoryBank(20, dim=8, dtype="float16")
    assert not torch.equal(restored.memory, bank.memory)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(restored.memory, bank.memory)
    assert list(bank.state_dict()) == ["memory"]


def test_reset_parameters_forgets_updates():
    bank = MemoryBank(10, dim=4)
    bank.update(torch.arange(10), torch.ones(10, 4))
    bank.reset_parameters()
    assert bank.memory.abs().max() <= 1 / math.sqrt(4 / 3)
    assert not torch.allclose(bank.memory, torch.full((10, 4), 0.5))


def test_index_check_names_both_numbers():
    bank = MemoryBank(50, dim=4)
    bank.check_index(torch.tensor([0, 49]))
    with pytest.raises(ValueError, match="index 50 is outside the memory bank of 50 samples"):
        bank.check_index(torch.tensor([3, 50]))
    with pytest.raises(ValueError, match="index -1 is outside"):
        bank.check_index(torch.tensor([-1, 3]))
    with pytest.raises(ValueError, match="must be integers.*WithIndex"):
        bank.check_index(torch.tensor([1.0]))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="training-set size"):
        MemoryBank(0)
    with pytest.raises(ValueError, match="momentum must lie in"):
        MemoryBank(10, momentum=1.0)
    with pytest.raises(ValueError, match="unknown bank dtype 'int8'"):
        MemoryBank(10, dtype="int8")
    bank = MemoryBank(10, dim=4)
    with pytest.raises(ValueError, match=r"embedding \(B, 4\)"):
        bank.update(torch.tensor([1, 2]), torch.randn(2, 5))
    with pytest.raises(ValueError, match="D = 4"):
        bank.scores(torch.randn(2, 5), torch.zeros(2, 3, dtype=torch.long))


def test_update_across_ranks_without_a_group_is_a_plain_update():
    assert not dist.is_initialized()
    first, second = MemoryBank(10, dim=4), MemoryBank(10, dim=4)
    second.load_state_dict(first.state_dict())
    index, embedding = torch.tensor([1, 3]), torch.randn(2, 4)
    first.update(index, embedding)
    second.update_across_ranks(index, embedding)
    assert torch.equal(first.memory, second.memory)


def test_update_across_ranks_in_a_one_process_group(tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        first, second = MemoryBank(10, dim=4), MemoryBank(10, dim=4)
        second.load_state_dict(first.state_dict())
        index, embedding = torch.tensor([1, 3, 8]), torch.randn(3, 4)
        first.update(index, embedding)
        second.update_across_ranks(index, embedding)
        assert torch.equal(first.memory, second.memory)
    finally:
        end_process_group()


def test_update_across_ranks_applies_every_ranks_rows(monkeypatch):
    """Two ranks with unequal batches: every row of both is written, padding dropped."""
    other_index = torch.tensor([6, 0, 9])
    other_rows = F.normalize(torch.randn(3, 4), dim=1)

    def all_gather(outputs, tensor):  # this process is rank 0; rank 1 holds the "other" rows
        outputs[0].copy_(tensor)
        if tensor.dtype == torch.long and tensor.shape == (1,):
            outputs[1].copy_(torch.tensor([3]))
        elif tensor.dtype == torch.long:
            outputs[1].copy_(other_index)
        else:
            outputs[1].copy_(other_rows)

    monkeypatch.setattr(memory_bank.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(memory_bank.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(memory_bank.dist, "all_gather", all_gather)
    bank, reference = MemoryBank(10, dim=4), MemoryBank(10, dim=4)
    reference.load_state_dict(bank.state_dict())
    index, rows = torch.tensor([2, 5]), F.normalize(torch.randn(2, 4), dim=1)
    bank.update_across_ranks(index, rows)
    reference.update(torch.cat([index, other_index]), torch.cat([rows, other_rows]))
    assert torch.equal(bank.memory, reference.memory)


def test_gathered_scores_work_in_chunks_and_keep_only_the_index_for_backward():
    bank = MemoryBank(50, dim=6).double()
    bank.DENSE_RATIO, bank.GATHER_CHUNK = 0, 3  # 7 negatives: chunks of 3, 3 and 1
    index = torch.randint(0, 50, (4, 7))
    anchors = torch.randn(4, 2, 6, dtype=torch.float64, requires_grad=True)
    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = bank.scores(anchors, index)
    assert len(saved) == 1 and saved[0] is index
    expected = torch.einsum("bmd,bkd->bmk", anchors, bank.memory[index])
    torch.testing.assert_close(out, expected)
    weights = torch.randn_like(out)
    (grad,) = torch.autograd.grad((out * weights).sum(), anchors)
    torch.testing.assert_close(grad, torch.einsum("bmk,bkd->bmd", weights, bank.memory[index]))
    assert torch.autograd.gradcheck(lambda a: bank.scores(a, index), (anchors,))
