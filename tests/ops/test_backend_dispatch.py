"""The one dispatcher of graphkd.ops: its rule, the Gram rewrites, and every method under DGL.

For every registered method, in float64, ``ops.use_backend("dgl")`` must give the loss
values and gradients of the default backend while running its graph computations
through DGL's kernels and never through a dense implementation or a Gram rewrite.
"""

from __future__ import annotations

import copy
from typing import Dict, List, Tuple

import pytest
import torch

import graphkd
from graphkd import KnowledgeGraph, Responses, ops
from graphkd.distill.methods import method_arguments
from graphkd.graphs import bipartite_graph, complete_graph
from graphkd.ops import gram

CPU = torch.device("cpu")
BATCH, CLASSES, SAMPLES = 8, 10, 64
WIDTHS = {
    "teacher": (24, {"s1": 4, "s2": 8, "s3": 12}),
    "student": (16, {"s1": 4, "s2": 8, "s3": 12}),
}
SPATIAL = {"s1": 4, "s2": 2, "s3": 2}
#: Options keeping the memory-bank methods small.
SMALL = {"hkd": {"nce_k": 16}, "hkd_kd": {"nce_k": 16}, "crd": {"nce_k": 16}}


def make_method(name: str):
    known = {
        "num_samples": SAMPLES,
        "num_classes": CLASSES,
        "labels": torch.arange(SAMPLES) % CLASSES,
        "teacher_dim": WIDTHS["teacher"][0],
        "student_dim": WIDTHS["student"][0],
        "teacher_channels": WIDTHS["teacher"][1],
        "student_channels": WIDTHS["student"][1],
        **{
            f"{role}_shapes": {k: (c, SPATIAL[k], SPATIAL[k]) for k, c in WIDTHS[role][1].items()}
            for role in WIDTHS
        },
    }
    torch.manual_seed(0)
    return graphkd.create_method(name, **method_arguments(name, known), **SMALL.get(name, {}))


def make_responses(role: str, seed: int) -> Responses:
    """Random float64 responses carrying everything any method reads, with a virtual view."""
    dim, channels = WIDTHS[role]
    generator = torch.Generator().manual_seed(seed)

    def tensor(*shape):
        values = torch.randn(BATCH, *shape, generator=generator, dtype=torch.float64)
        return values.requires_grad_(role == "student")

    def one_view() -> Responses:
        return Responses(
            logits=tensor(CLASSES) * 3,
            embedding=tensor(dim),
            features={k: tensor(c, SPATIAL[k], SPATIAL[k]).relu() for k, c in channels.items()},
            index=torch.arange(BATCH),
            labels=torch.arange(BATCH) % CLASSES,
        )

    responses = one_view()
    responses.virtual = one_view()
    return responses


def student_tensors(r: Responses) -> List[torch.Tensor]:
    return [t for v in (r, r.virtual) for t in (v.logits, v.embedding, *v.features.values())]


def stages(distiller) -> List[Tuple[object, str]]:
    return [(s.name, s.trains) for s in distiller.stages()] or [(None, "student")]


def losses_and_gradients(distiller) -> List[Tuple[Dict, List]]:
    """Per stage: the returned values and the gradients of the student's inputs and the
    method's parameters, from one float64 step on fixed responses with a fixed seed."""
    distiller = copy.deepcopy(distiller)
    results = []
    for stage, trains in stages(distiller):
        if stage is not None:
            distiller.set_stage(stage)
        teacher, student = make_responses("teacher", 1), make_responses("student", 2)
        torch.manual_seed(3)  # the same negatives, head drops and noise on every backend
        if trains == "distiller":
            out = distiller.stage_loss(stage, teacher)
        else:
            out = distiller(teacher, student)
        leaves = student_tensors(student) + [p for p in distiller.parameters() if p.requires_grad]
        grads = torch.autograd.grad(out["loss"], leaves, allow_unused=True)
        values = {k: v.detach() for k, v in out.items()}
        results.append((values, [g if g is None else g.detach() for g in grads]))
    return results


class Recorder:
    """Records which implementation of which kernel or rewrite runs."""

    def __init__(self, monkeypatch) -> None:
        self.calls: List[Tuple[str, str]] = []
        registries = [ops.KERNELS.values(), ops.GRAM_REWRITES.values()]
        for computation in (c for registry in registries for c in registry):
            for choice, function in computation.implementations.items():
                monkeypatch.setitem(
                    computation.implementations,
                    choice,
                    self.wrap(computation.name, choice, function),
                )

    def wrap(self, name, choice, function):
        def recorded(*args, **kwargs):
            self.calls.append((name, choice))
            return function(*args, **kwargs)

        return recorded

    def choices(self) -> set:
        return {choice for _, choice in self.calls}


def assert_same_steps(mine: List[Tuple[Dict, List]], theirs: List[Tuple[Dict, List]]) -> None:
    for (values, grads), (their_values, their_grads) in zip(mine, theirs):
        assert values.keys() == their_values.keys()
        for key in values:
            torch.testing.assert_close(values[key], their_values[key])
        for grad, their_grad in zip(grads, their_grads):
            assert (grad is None) == (their_grad is None)
            if grad is not None:
                torch.testing.assert_close(grad, their_grad)


@pytest.mark.parametrize("name", graphkd.list_methods())
def test_every_method_under_dgl_equals_the_default(name, monkeypatch):
    distiller = make_method(name).double()
    recorder = Recorder(monkeypatch)
    default = losses_and_gradients(distiller)
    default_choices = recorder.choices()
    recorder.calls.clear()
    with ops.use_backend("dgl"):
        through_dgl = losses_and_gradients(distiller)
    assert not recorder.choices() & {"dense", "gram"}, recorder.calls
    if default_choices:  # a method with graph computations runs them through DGL
        assert "dgl" in recorder.choices(), (default_choices, recorder.calls)
    assert_same_steps(through_dgl, default)


@pytest.mark.parametrize("name", graphkd.list_methods())
def test_every_method_without_dgl_on_the_device_equals_the_default(name, monkeypatch):
    """What a GPU with the CPU-only DGL runs: dense blocks and Gram rewrites by default,
    PyTorch kernels elsewhere and under the "torch" backend."""
    from graphkd import _dgl

    distiller = make_method(name).double()
    default = losses_and_gradients(distiller)
    monkeypatch.setitem(_dgl._dgl_devices, "cpu", False)
    recorder = Recorder(monkeypatch)
    assert_same_steps(losses_and_gradients(distiller), default)
    assert "dgl" not in recorder.choices(), recorder.calls
    recorder.calls.clear()
    with ops.use_backend("torch"):
        assert_same_steps(losses_and_gradients(distiller), default)
    assert not recorder.choices() & {"dense", "gram", "dgl"}, recorder.calls


#: The methods with a Gram rewrite and a DGL kernel their explicit graphs run.
REWRITTEN = {"rkd": "edge_difference", "vrm": "edge_difference", "nst": "edge_dot"}


def test_relational_methods_build_their_graphs_only_outside_the_default(monkeypatch):
    recorder = Recorder(monkeypatch)
    for name, kernel in REWRITTEN.items():
        distiller = make_method(name).double()
        recorder.calls.clear()
        losses_and_gradients(distiller)
        assert (name, "gram") in recorder.calls and (name, "explicit") not in recorder.calls
        recorder.calls.clear()
        with ops.use_backend("dgl"):
            losses_and_gradients(distiller)
        assert (name, "explicit") in recorder.calls and (name, "gram") not in recorder.calls
        assert (kernel, "dgl") in recorder.calls


def non_block_graph() -> KnowledgeGraph:
    return KnowledgeGraph(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]), num_nodes=3)


@pytest.mark.parametrize(
    "backend, block, expected",
    [
        ("auto", True, "dense"),
        ("auto", False, "dgl"),
        ("dgl", True, "dgl"),
        ("dgl", False, "dgl"),
        ("torch", True, "torch"),
        ("torch", False, "torch"),
    ],
)
def test_the_dispatcher_picks_the_documented_implementation(backend, block, expected):
    graph = complete_graph(3) if block else non_block_graph()
    with ops.use_backend(backend):
        assert ops.select(CPU, block) == expected
        for name in ops.list_kernels():
            assert ops.KERNELS[name].implementation(graph, CPU) == expected


@pytest.mark.parametrize(
    "block, backend, expected",
    [(True, "auto", "dense"), (False, "auto", "torch"), (True, "torch", "torch")],
)
def test_where_dgl_cannot_hold_graphs_the_dispatcher_picks_dense_or_torch(
    monkeypatch, block, backend, expected
):
    from graphkd import _dgl

    monkeypatch.setitem(_dgl._dgl_devices, "cpu", False)
    with ops.use_backend(backend):
        assert ops.select(CPU, block) == expected
    with ops.use_backend("dgl"), pytest.raises(ValueError, match="cannot hold graphs"):
        ops.select(CPU, block)


def test_every_op_is_registered_with_three_implementations():
    public = {"destination_feature", "divide_by_destination", "edge_difference", "edge_dot"}
    public |= {"edge_log_softmax", "edge_softmax", "incoming_edge_max", "incoming_edge_sum"}
    public |= {"neighbour_sum", "normalize_incoming"}
    assert set(ops.list_kernels()) == public
    for kernel in ops.KERNELS.values():
        assert list(kernel.implementations) == ["dense", "dgl", "torch"]
    with pytest.raises(ValueError, match="already registered"):
        ops.Kernel("edge_dot", *ops.KERNELS["edge_dot"].implementations.values())


@pytest.mark.parametrize("backend, expected", [("auto", "gram"), ("dgl", "explicit")])
def test_the_gram_rewrites_follow_the_dispatcher(backend, expected):
    assert set(ops.GRAM_REWRITES) == set(REWRITTEN)
    with ops.use_backend(backend):
        for rewrite in ops.GRAM_REWRITES.values():
            assert rewrite.implementation("gram", CPU) == expected
            assert rewrite.implementation("explicit", CPU) == "explicit"
            with pytest.raises(ValueError, match="path must be 'gram' or 'explicit'"):
                rewrite.implementation("auto", CPU)
    with pytest.raises(ValueError, match="already registered"):
        ops.GramRewrite("rkd", print, print)


@pytest.mark.parametrize("name", list(REWRITTEN))
def test_the_gram_rewrite_equals_the_explicit_graph(name):
    distiller = make_method(name).double()
    rewrite = ops.GRAM_REWRITES[name]
    results = {}
    for choice, compute in rewrite.implementations.items():
        teacher, student = make_responses("teacher", 1), make_responses("student", 2)
        values = compute(distiller, teacher, student)
        leaves = student_tensors(student) + list(distiller.parameters())
        total = sum(values.values())
        grads = torch.autograd.grad(total, leaves, allow_unused=True)
        results[choice] = (values, grads)
    (gram_values, gram_grads), (graph_values, graph_grads) = results["gram"], results["explicit"]
    assert gram_values.keys() == graph_values.keys()
    for key in gram_values:
        torch.testing.assert_close(gram_values[key], graph_values[key])
    assert any(g is not None for g in gram_grads)
    for mine, theirs in zip(gram_grads, graph_grads):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            torch.testing.assert_close(mine, theirs)


def test_one_coincidence_rule_counts_near_duplicates_as_zero_length():
    tolerance = gram.coincidence_tolerance(4, torch.float32)
    assert tolerance == pytest.approx(16.0 * 2.0 * torch.finfo(torch.float32).eps)
    x = torch.tensor([[3.0, 4.0, 0.0, 0.0]], dtype=torch.float32)
    near = x + torch.tensor([[1e-4, 0.0, 0.0, 0.0]])  # squared length 1e-8 << tol * 50
    apart = x + torch.tensor([[1e-1, 0.0, 0.0, 0.0]])
    rows = torch.cat([x, near, apart])
    squares = rows.square().sum(1)
    squared, mask = gram.squared_distances(x @ rows.t(), squares[:1], squares, tolerance)
    assert mask.tolist() == [[False, False, True]]
    inverse = gram.inverse_lengths(squared, mask, 1e-24)
    assert inverse[0, :2].tolist() == [0.0, 0.0]
    torch.testing.assert_close(inverse[0, 2], torch.tensor(10.0), rtol=1e-3, atol=0.0)


@pytest.mark.parametrize("name", list(REWRITTEN))
def test_methods_reject_unknown_paths_through_the_shared_check(name):
    required = {
        "vrm": {"adaptor": False},
        "nst": {"teacher_features": ["s1"], "student_features": ["s1"]},
    }
    with pytest.raises(ValueError, match=f"{name}: unknown path 'sparse'"):
        graphkd.create_method(name, path="sparse", **required.get(name, {}))


def test_dense_kernels_on_a_bipartite_block_need_no_dgl_graph():
    graph = bipartite_graph(3, 4)
    x = torch.randn(7, 5)
    ops.edge_log_softmax(graph, ops.edge_dot(graph, x))
    assert graph._topology is None
