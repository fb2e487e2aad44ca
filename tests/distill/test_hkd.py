"""HKD: prediction kNN graphs, the contrastive loss against a dense reference, banks, errors."""

import io
import warnings

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill.presets.hkd import HKDDistiller, HKDGraph

NUM_SAMPLES, CLASSES, TEACHER_DIM, STUDENT_DIM = 64, 5, 12, 8


def labels():
    return torch.arange(NUM_SAMPLES) % CLASSES


def distiller(**options):
    options = {"embed_dim": 6, "nce_k": 10, **options}
    return HKDDistiller(
        teacher_dim=TEACHER_DIM, student_dim=STUDENT_DIM, labels=labels(), **options
    ).double()


def batch(size=12, seed=0, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(NUM_SAMPLES, generator=generator)[:size]

    def make(dim):
        return Responses(
            logits=torch.randn(size, CLASSES, generator=generator, dtype=torch.float64) * 3,
            embedding=torch.randn(size, dim, generator=generator, dtype=torch.float64),
            index=index,
            labels=labels()[index],
        )

    teacher, student = make(TEACHER_DIM), make(STUDENT_DIM)
    if requires_grad:
        student.logits.requires_grad_(True)
        student.embedding.requires_grad_(True)
    return teacher, student


def negatives_for(index, count=10, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, NUM_SAMPLES, (index.shape[0], count), generator=generator)


# ---------------------------------------------------------------- dense reference (float64)


def knn_by_sorting(logits, k):
    """(B, B) 0/1 matrix, row i marks the k nearest predictions of i (itself first)."""
    p = torch.softmax(logits, dim=1)
    size = p.shape[0]
    adjacency = torch.zeros(size, size, dtype=logits.dtype)
    for i in range(size):
        distance = [
            (1 - float(p[i] @ p[j]) / float(p[i].norm() * p[j].norm()), j)
            for j in range(size)
            if j != i
        ]
        for _, j in [(None, i)] + sorted(distance)[: k - 1]:
            adjacency[i, j] = 1.0
    return adjacency


def reference(d, teacher, student, negatives, k=8, alpha=0.0):
    temperature, weight = 0.07, 0.75

    def unit(x):
        return x / x.norm(dim=1, keepdim=True)

    def embed(builder, f):
        lin = builder.embed.linear
        return unit(f @ lin.weight.t() + lin.bias)

    def gnn(builder, e, logits):
        lin = builder.encoder.conv.lin
        mean = knn_by_sorting(logits.detach(), k) @ e / k
        return unit(torch.cat([e, mean], 1) @ lin.weight.t() + lin.bias)

    def nce(anchor, positive, bank):
        rows = bank[negatives]  # (B, K, D)
        logits = torch.cat(
            [(anchor * positive).sum(1, keepdim=True), (anchor[:, None, :] * rows).sum(2)], 1
        )
        logits = logits / temperature
        return (torch.logsumexp(logits, 1) - logits[:, 0]).mean()

    index = student.index
    bank_t, bank_s = d.bank_t.memory.clone(), d.bank_s.memory.clone()
    own_s, own_t = bank_s, bank_t
    e_t = embed(d.teacher_builder, teacher.embedding)
    e_s = embed(d.student_builder, student.embedding)
    individual = nce(e_s, bank_t[index], own_s) + nce(e_t, bank_s[index], own_t)
    g_t = gnn(d.teacher_builder, e_t, teacher.logits)
    g_s = gnn(d.student_builder, e_s, student.logits)
    target_s = unit(weight * bank_t[index] + (1 - weight) * g_t).detach()
    target_t = unit(weight * bank_s[index] + (1 - weight) * g_s).detach()
    graph = nce(g_s, target_s, own_s) + nce(g_t, target_t, own_t)
    total = 3.0 * (individual + graph)
    if alpha:
        kd = F.kl_div(
            F.log_softmax(student.logits / 4, 1), F.softmax(teacher.logits / 4, 1), reduction="sum"
        )
        total = total + alpha * 16 * kd / student.batch_size
    return total, individual, graph


def paper_reference(d, teacher, student, negatives, k=8):
    """The paper's Eq. 10, written out sample by sample: graph embeddings only; the other
    network's graph embedding of the same sample is the positive, the other network's
    bank rows at the negatives' indices the negatives."""
    temperature = 0.07

    def unit(x):
        return x / x.norm()

    def holistic(builder, features, logits):
        lin, conv = builder.embed.linear, builder.encoder.conv.lin
        e = torch.stack([unit(lin.weight @ f + lin.bias) for f in features])
        neighbours = knn_by_sorting(logits.detach(), k)
        return torch.stack(
            [
                unit(conv.weight @ torch.cat([e[i], neighbours[i] @ e / k]) + conv.bias)
                for i in range(len(e))
            ]
        )

    g_s = holistic(d.student_builder, student.embedding, student.logits)
    g_t = holistic(d.teacher_builder, teacher.embedding, teacher.logits)
    bank_s, bank_t = d.bank_s.memory.clone(), d.bank_t.memory.clone()
    total = 0.0
    for i in range(len(g_s)):
        for anchor, other, bank in ((g_s[i], g_t[i], bank_t), (g_t[i], g_s[i], bank_s)):
            scores = torch.cat([(anchor @ other)[None], bank[negatives[i]] @ anchor])
            total = total - torch.log_softmax(scores / temperature, 0)[0]
    return 3.0 * total / len(g_s)


# ---------------------------------------------------------------- the graph


def test_prediction_graph_is_the_knn_graph_of_softmax_predictions():
    teacher, _ = batch(size=16)
    builder = HKDGraph(TEACHER_DIM, embed_dim=6, k=8).double()
    graph = builder(teacher)
    adjacency = torch.zeros(16, 16, dtype=torch.float64)
    adjacency[graph.dst, graph.src] = 1.0  # row = receiving node, columns = its neighbours
    assert torch.equal(adjacency, knn_by_sorting(teacher.logits, 8))
    assert graph.in_degrees().tolist() == [8] * 16 and graph.num_edges == 128
    assert sorted(graph.ndata) == ["embed", "gnn", "logits"]
    torch.testing.assert_close(
        graph.ndata["embed"].norm(dim=1), torch.ones(16, dtype=torch.float64)
    )


def test_prediction_graph_ignores_gradients_of_the_logits():
    _, student = batch(size=10, requires_grad=True)
    graph = HKDGraph(STUDENT_DIM, embed_dim=6, k=4).double()(student)
    graph.ndata["gnn"].sum().backward()
    assert student.logits.grad is None and student.embedding.grad is not None


def test_embedding_width_must_match():
    teacher, _ = batch()
    with pytest.raises(ValueError, match="width 12 but this HKD graph was built for width 8"):
        HKDGraph(STUDENT_DIM, embed_dim=6).double()(teacher)


# ---------------------------------------------------------------- the loss


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_loss_equals_dense_reference(alpha):
    d = distiller(alpha=alpha)
    teacher, student = batch(requires_grad=True)
    negatives = negatives_for(student.index)
    out = d(teacher, student, negatives=negatives)
    assert sorted(out) == sorted(["loss", "individual", "graph"] + (["kd"] if alpha else []))
    grads = torch.autograd.grad(out["loss"], [student.logits, student.embedding], allow_unused=True)
    teacher, student = batch(requires_grad=True)
    total, individual, graph = reference(d, teacher, student, negatives, alpha=alpha)
    torch.testing.assert_close(out["individual"], individual)
    torch.testing.assert_close(out["graph"], graph)
    torch.testing.assert_close(out["loss"], total)
    expected = torch.autograd.grad(total, [student.logits, student.embedding], allow_unused=True)
    if alpha:
        torch.testing.assert_close(grads[0], expected[0])
    else:
        assert grads[0] is None and expected[0] is None  # logits only shape the graph
    torch.testing.assert_close(grads[1], expected[1])


@pytest.mark.parametrize("dense", [True, False])
def test_paper_objective_equals_eq_10(dense):
    d = distiller(objective="paper")
    if not dense:
        d.bank_s.DENSE_RATIO = d.bank_t.DENSE_RATIO = 0
    assert [t.name for t in d.terms] == ["graph"]
    teacher, student = batch(requires_grad=True)
    negatives = negatives_for(student.index)
    out = d(teacher, student, negatives=negatives)
    assert sorted(out) == ["graph", "loss"]
    parameters = [student.embedding, *d.parameters()]
    grads = torch.autograd.grad(out["loss"], parameters)
    teacher, student = batch(requires_grad=True)
    expected = paper_reference(d, teacher, student, negatives)
    torch.testing.assert_close(out["loss"], expected)
    torch.testing.assert_close(out["graph"] * 3.0, expected)
    parameters = [student.embedding, *d.parameters()]
    for mine, theirs in zip(grads, torch.autograd.grad(expected, parameters)):
        torch.testing.assert_close(mine, theirs)
    # both encoders train through the positive pair
    assert all(g.abs().sum() > 0 for g in grads[1:])


def test_paper_objective_stores_graph_embeddings_in_the_banks():
    d = distiller(objective="paper")
    teacher, student = batch()
    before = d.bank_s.memory.clone()
    d(teacher, student)
    g_s = d.student_builder(student).ndata["gnn"].detach()
    d.after_step(teacher, student)
    mixed = 0.9 * before[student.index] + 0.1 * g_s
    torch.testing.assert_close(
        d.bank_s.memory[student.index], mixed / mixed.norm(dim=1, keepdim=True)
    )


def test_gathered_negative_rows_give_the_same_loss():
    """Banks much larger than K gather the (B, K, D) rows instead of scoring the whole bank."""
    d = distiller(nce_k=4)
    d.bank_s.DENSE_RATIO = d.bank_t.DENSE_RATIO = 0
    teacher, student = batch()
    negatives = negatives_for(student.index, count=4)
    out = d(teacher, student, negatives=negatives)
    total, _, _ = reference(d, teacher, student, negatives)
    torch.testing.assert_close(out["loss"], total)


def test_every_parameter_gets_a_finite_gradient_and_the_teacher_none():
    d = distiller()
    teacher, student = batch(requires_grad=True)
    teacher.embedding.requires_grad_(True)
    teacher.logits.requires_grad_(True)
    d(teacher, student)["loss"].backward()
    for name, parameter in d.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name
    assert teacher.embedding.grad is None and teacher.logits.grad is None


def test_sampled_negatives_come_from_other_classes(monkeypatch):
    d = distiller()
    teacher, student = batch()
    drawn = []
    sampler = d.sampler
    monkeypatch.setattr(d, "sampler", lambda index: drawn.append(sampler(index)) or drawn[-1])
    monkeypatch.setattr(d.sampler, "device", sampler.device, raising=False)
    d(teacher, student)
    (negatives,) = drawn
    assert negatives.shape == (12, 10)
    assert (labels()[negatives] != student.labels[:, None]).all()
    assert all(row.unique().numel() == 10 for row in negatives)  # without replacement
    assert not sampler.replacement and distiller(replacement=True).sampler.replacement


def test_float16_banks_are_close_to_float32_banks():
    full = HKDDistiller(
        teacher_dim=TEACHER_DIM, student_dim=STUDENT_DIM, labels=labels(), embed_dim=6, nce_k=10
    )
    half = HKDDistiller(
        teacher_dim=TEACHER_DIM,
        student_dim=STUDENT_DIM,
        labels=labels(),
        embed_dim=6,
        nce_k=10,
        bank_dtype="float16",
    )
    half.load_state_dict(full.state_dict())
    assert half.bank_s.memory.dtype == torch.float16
    teacher, student = (r.map(lambda x: x.float()) for r in batch())
    negatives = negatives_for(student.index)
    a, b = full(teacher, student, negatives=negatives), half(teacher, student, negatives=negatives)
    torch.testing.assert_close(a["loss"], b["loss"], rtol=1e-2, atol=1e-2)


# ---------------------------------------------------------------- banks and steps


def test_after_step_writes_the_forward_embeddings_into_the_banks():
    d = distiller()
    teacher, student = batch()
    before_t, before_s = d.bank_t.memory.clone(), d.bank_s.memory.clone()
    d(teacher, student)
    e_t = d.teacher_builder(teacher).ndata["embed"].detach()
    e_s = d.student_builder(student).ndata["embed"].detach()
    d.after_step(teacher, student)
    index = student.index
    for bank, before, e in ((d.bank_t, before_t, e_t), (d.bank_s, before_s, e_s)):
        mixed = 0.9 * before[index] + 0.1 * e
        torch.testing.assert_close(bank.memory[index], mixed / mixed.norm(dim=1, keepdim=True))
        rest = torch.ones(NUM_SAMPLES, dtype=torch.bool)
        rest[index] = False
        assert torch.equal(bank.memory[rest], before[rest])
    with pytest.raises(ValueError, match="call the distiller on the batch before"):
        d.after_step(teacher, student)


def test_after_step_rejects_another_batch():
    d = distiller()
    teacher, student = batch(seed=0)
    other_teacher, other_student = batch(seed=5)
    d(teacher, student)
    with pytest.raises(ValueError, match="other dataset indices than the last forward"):
        d.after_step(other_teacher, other_student)


def test_banks_are_saved_and_restored_with_the_state_dict():
    d = distiller()
    teacher, student = batch()
    d(teacher, student)
    d.after_step(teacher, student)
    buffer = io.BytesIO()
    torch.save(d.state_dict(), buffer)
    assert {"bank_t.memory", "bank_s.memory"} <= set(d.state_dict())
    restored = distiller()
    assert not torch.equal(restored.bank_s.memory, d.bank_s.memory)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(restored.bank_s.memory, d.bank_s.memory)
    assert torch.equal(restored.bank_t.memory, d.bank_t.memory)
    negatives = negatives_for(student.index)
    torch.testing.assert_close(
        restored(teacher, student, negatives=negatives)["loss"],
        d(teacher, student, negatives=negatives)["loss"],
    )


def test_reset_parameters_redraws_heads_and_banks():
    d = distiller()
    before = {k: v.clone() for k, v in d.state_dict().items()}
    d.reset_parameters()
    assert all(not torch.equal(before[k], v) for k, v in d.state_dict().items())


# ---------------------------------------------------------------- small batches and errors


def test_batch_smaller_than_k_skips_the_graph_term_with_one_warning():
    d = distiller()
    with pytest.warns(UserWarning, match="skips its graph term on batches of fewer than 8"):
        teacher, student = batch(size=5, requires_grad=True)
        out = d(teacher, student)
    assert float(out["graph"]) == 0.0
    out["loss"].backward()
    assert student.embedding.grad.abs().sum() > 0
    negatives = negatives_for(student.index)
    teacher, student = batch(size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d(teacher, student, negatives=negatives)
        d(*batch(size=1))
    teacher, student = batch(size=5)
    d_full = reference(d, teacher, student, negatives, k=8)
    torch.testing.assert_close(out["individual"], d_full[1])
    torch.testing.assert_close(out["loss"], 3.0 * d_full[1])


@pytest.mark.parametrize("objective", ["reference", "paper"])
def test_batch_smaller_than_k_leaves_the_banks_untouched(objective):
    """As the reference implementation, which returns before its bank update."""
    d = distiller(objective=objective)
    before = {k: v.clone() for k, v in d.state_dict().items() if k.startswith("bank")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        teacher, student = batch(size=5, requires_grad=True)
        d(teacher, student)["loss"].backward()
    d.after_step(teacher, student)
    assert all(torch.equal(d.state_dict()[k], v) for k, v in before.items())
    d(*batch(size=12))
    d.after_step(*batch(size=12))
    assert not torch.equal(d.bank_s.memory, before["bank_s.memory"])


def test_responses_without_index_are_rejected():
    teacher, student = batch()
    teacher.index = student.index = None
    with pytest.raises(
        ValueError, match="no index; wrap the training set with graphkd.data.WithIndex"
    ):
        distiller()(teacher, student)


def test_index_beyond_the_bank_names_both_numbers():
    teacher, student = batch()
    student.index = student.index.clone()
    student.index[3] = 70
    with pytest.raises(ValueError, match="index 70 is outside the memory bank of 64 samples"):
        distiller()(teacher, student)


def test_bad_negatives_are_rejected():
    teacher, student = batch()
    with pytest.raises(ValueError, match=r"negatives must be \(B, K\) = \(12, K\)"):
        distiller()(teacher, student, negatives=torch.zeros(11, 3, dtype=torch.long))


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="unknown objective 'other'"):
        distiller(objective="other")
    with pytest.raises(ValueError, match=r"one label per training sample \(100\)"):
        distiller(num_samples=100)
    with pytest.raises(ValueError, match="k must be a positive int"):
        distiller(k=0)
    with pytest.raises(ValueError, match="bank_weight must lie in"):
        distiller(bank_weight=1.5)


# ---------------------------------------------------------------- the registered presets


def test_presets_and_factory_values():
    options = {"teacher_dim": 12, "student_dim": 8, "labels": labels(), "nce_k": 10}
    hkd = graphkd.create_method("hkd", **options)
    hkd_kd = graphkd.create_method("hkd_kd", num_samples=NUM_SAMPLES, **options)
    assert isinstance(hkd, HKDDistiller) and hkd.needs_index and hkd.ce_weight == 1.0
    assert [(t.name, t.weight) for t in hkd.terms] == [("individual", 3.0), ("graph", 3.0)]
    assert [(t.name, t.weight) for t in hkd_kd.terms][-1] == ("kd", 1.0)
    assert hkd_kd.terms[-1].options == {"tau": 4.0}
    assert hkd.bank_s.num_samples == NUM_SAMPLES and hkd.bank_s.dim == 128
    assert hkd.metrics["individual"].temperature == 0.07 and hkd.k == 8
    assert hkd.bank_s.momentum == hkd.bank_t.momentum == 0.9
    slower = graphkd.create_method("hkd_kd", momentum=0.5, **options)
    assert slower.bank_s.momentum == slower.bank_t.momentum == 0.5
    teacher, student = (r.map(lambda x: x.float()) for r in batch())
    assert torch.isfinite(hkd_kd(teacher, student)["loss"])


@pytest.mark.parametrize("missing", ["teacher_dim", "student_dim", "labels"])
def test_presets_need_dims_and_labels(missing):
    options = {"teacher_dim": 12, "student_dim": 8, "labels": labels()}
    del options[missing]
    with pytest.raises(ValueError, match=f"HKD needs {missing}|needs labels"):
        graphkd.create_method("hkd", **options)


def test_contrastive_terms_are_the_metrics_info_nce():
    """HKD scores its bank rows itself; from those scores the loss is metrics' InfoNCE
    with the negatives gathered."""
    from graphkd.metrics.functional import info_nce, info_nce_from_scores

    generator = torch.Generator().manual_seed(0)
    anchors, positives = (
        F.normalize(torch.randn(6, 8, generator=generator, dtype=torch.float64), dim=1)
        for _ in range(2)
    )
    negatives = F.normalize(torch.randn(6, 5, 8, generator=generator, dtype=torch.float64), dim=2)
    positive = (anchors * positives).sum(1)
    negative = torch.einsum("bd,bkd->bk", anchors, negatives)
    torch.testing.assert_close(
        info_nce_from_scores(positive, negative, 0.07),
        info_nce(anchors, positives, negatives, temperature=0.07),
    )
    with pytest.raises(ValueError, match=r"shapes \(B,\) and \(B, K\)"):
        info_nce_from_scores(positive, negative[:3], 0.07)
