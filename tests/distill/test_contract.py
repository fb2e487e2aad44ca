"""The distiller contract: every method is a Distiller, ensembles honour every hook, plain
modules are adapted once, and the engine asks methods without probing them."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import graphkd
from graphkd import KnowledgeGraph, Responses
from graphkd.distill import (
    Distiller,
    EnsembleDistiller,
    ModuleDistiller,
    Stage,
    as_distiller,
    create_method,
    list_methods,
    method_arguments,
)
from graphkd.distill.base import GradientStep

from .test_mhgd import distiller as mhgd_distiller
from .test_mhgd import maps

CHANNELS = {"stage1": 8, "stage2": 16}
KNOWN = {
    "num_samples": 64,
    "num_classes": 10,
    "labels": torch.arange(64) % 10,
    "teacher_dim": 24,
    "student_dim": 16,
    "teacher_channels": CHANNELS,
    "student_channels": CHANNELS,
    "teacher_shapes": {"stage1": (8, 4, 4), "stage2": (16, 2, 2)},
    "student_shapes": {"stage1": (8, 4, 4), "stage2": (16, 2, 2)},
}
HOOKS = ("set_stage", "after_step", "reset_parameters", "combine_gradients")


def make(name: str) -> Distiller:
    return create_method(name, **method_arguments(name, KNOWN))


def spy(method: Distiller, calls: list, who: int) -> None:
    """Record every hook call on ``method`` as ``(who, hook, args)`` and then run it
    (``after_step`` only recorded: the random responses carry no memory-bank indices)."""
    for hook in HOOKS:
        original = getattr(method, hook)

        def recorded(*args, _hook=hook, _original=original, **kwargs):
            calls.append((who, _hook, args, kwargs))
            return None if _hook == "after_step" else _original(*args, **kwargs)

        object.__setattr__(method, hook, recorded)


@pytest.mark.parametrize("name", list_methods())
def test_every_method_is_a_distiller(name):
    assert isinstance(make(name), Distiller)


@pytest.mark.parametrize("name", list_methods())
def test_an_ensemble_of_two_honours_every_hook(name):
    members = [make(name), make(name)]
    ensemble = EnsembleDistiller(members)
    first = members[0]
    for attribute in (
        "ce_weight",
        "check_inputs",
        "needs_index",
        "needs_virtual_view",
        "ce_on_virtual_view",
        "combines_gradients",
    ):
        assert getattr(ensemble, attribute) == getattr(first, attribute), attribute
    assert ensemble.stages() == first.stages()

    calls: list = []
    for k, member in enumerate(members):
        spy(member, calls, k)
    for stage in first.stages():
        ensemble.set_stage(stage.name)
    assert [(k, a) for k, hook, a, _ in calls] == [
        (k, (stage.name,)) for stage in first.stages() for k in (0, 1)
    ]

    calls.clear()
    teachers = [Responses(torch.randn(4, 10)), Responses(torch.randn(4, 10))]
    student = Responses(torch.randn(4, 10))
    ensemble.after_step(teachers, student)
    assert [(k, hook) for k, hook, _, _ in calls] == [(0, "after_step"), (1, "after_step")]
    assert [args[0] for _, _, args, _ in calls] == teachers

    calls.clear()
    ensemble.reset_parameters()
    assert [(k, hook) for k, hook, _, _ in calls] == [
        (0, "reset_parameters"),
        (1, "reset_parameters"),
    ]

    calls.clear()
    weight = torch.nn.Parameter(torch.ones(3))
    if not ensemble.combines_gradients:
        ensemble.combine_gradients(
            GradientStep([weight], (2 * weight).sum(), (3 * weight).sum(), 0)
        )
        torch.testing.assert_close(weight.grad, torch.full((3,), 5.0))
        assert [(k, hook) for k, hook, _, _ in calls] == [(0, "combine_gradients")]


def test_mhgd_from_two_teachers_clips_the_ensembles_transfer_gradient():
    """The ensemble's loss (the mean over teachers) reaches the student clipped per
    parameter to ||g_ce|| sigmoid(e - e1), as MHGD's page documents for one teacher."""
    members = [mhgd_distiller(weight=50.0), mhgd_distiller(weight=50.0)]
    ensemble = EnsembleDistiller(members)
    teachers = [maps(1), maps(2)]
    student = maps(3, requires_grad=True)
    params = list(student.features.values())
    epoch, start = 41, 40

    def losses():
        ce = sum(1e-4 * (p * torch.arange(p.numel()).view_as(p)).sum() for p in params)
        return ce, ensemble(teachers, student)["loss"]

    ce, transfer = losses()
    direct_transfer = (
        members[0](teachers[0], student)["loss"] + members[1](teachers[1], student)["loss"]
    ) / 2
    torch.testing.assert_close(transfer, direct_transfer)
    g_tr = torch.autograd.grad(direct_transfer, params, retain_graph=True)
    g_ce = torch.autograd.grad(ce, params, retain_graph=True)
    factor = 1 / (1 + math.exp(-(epoch - start)))
    expected = [c + t * min(1.0, float(c.norm() * factor / t.norm())) for c, t in zip(g_ce, g_tr)]
    plain = [c + t for c, t in zip(g_ce, g_tr)]
    assert any(not torch.allclose(e, p) for e, p in zip(expected, plain))  # clipping bites

    assert ensemble.combines_gradients
    ensemble.combine_gradients(GradientStep(params, ce, transfer, epoch))
    for param, want in zip(params, expected):
        torch.testing.assert_close(param.grad, want)


def test_mhgd_without_clipping_is_a_plain_sum_and_may_accumulate():
    assert not create_method(
        "mhgd", teacher_channels=CHANNELS, student_channels=CHANNELS, gradient_clipping=False
    ).combines_gradients


def test_a_plain_module_is_adapted_once_with_its_own_hooks():
    class Staged(torch.nn.Module):
        ce_weight = 0.25
        needs_index = True

        def __init__(self):
            super().__init__()
            self.entered = []

        def forward(self, teacher, student):
            return {"loss": (teacher.logits - student.logits).square().mean()}

        def stages(self):
            return [Stage("warm", 2, "distiller"), Stage("distill", None, "student")]

        def set_stage(self, name):
            self.entered.append(name)

    module = Staged()
    method = as_distiller(module)
    assert isinstance(method, ModuleDistiller) and as_distiller(method) is method
    assert (method.ce_weight, method.needs_index, method.needs_virtual_view) == (0.25, True, False)
    assert [stage.name for stage in method.stages()] == ["warm", "distill"]
    method.set_stage("warm")
    assert module.entered == ["warm"]
    with pytest.raises(ValueError, match="no distiller-only stage 'warm'"):
        method.stage_loss("warm", Responses(torch.zeros(2, 3)))
    out = method(Responses(torch.zeros(2, 3)), Responses(torch.ones(2, 3)))
    assert float(out["loss"]) == 1.0
    with pytest.raises(ValueError, match="build_graphs belongs to graph-matching methods"):
        method.build_graphs(Responses(torch.zeros(2, 3)), Responses(torch.ones(2, 3)))
    batch = (Responses(torch.zeros(2, 3)), Responses(torch.ones(2, 3)))
    edge = KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), num_nodes=2)
    module.build_graphs = lambda teacher, student: ({"pair": edge}, {"pair": edge})
    assert ModuleDistiller(module).build_graphs(*batch) == ({"pair": edge}, {"pair": edge})
    module.build_graphs = lambda teacher, student: (edge, edge)
    with pytest.raises(ValueError, match="returned tuple; return .* two dicts with the same keys"):
        ModuleDistiller(module).build_graphs(*batch)
    with pytest.raises(ValueError, match="returned a int, not a distiller"):
        as_distiller(3, "my_module:factory")


def test_the_default_contract_rejects_unknown_stages():
    method = make("kd")
    method.set_stage("distill")
    with pytest.raises(ValueError, match=r"has the stages \['distill'\], got 'attention'"):
        method.set_stage("attention")


def test_a_factory_named_module_colon_factory_may_return_a_plain_module(tmp_path, monkeypatch):
    (tmp_path / "plain_methods.py").write_text(
        "import torch\n\n"
        "class L1(torch.nn.Module):\n"
        "    ce_weight = 0.5\n"
        "    def forward(self, teacher, student):\n"
        "        return {'loss': (teacher.logits - student.logits).abs().mean()}\n\n"
        "def l1():\n"
        "    return L1()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "plain_methods:l1"
    try:
        method = graphkd.create_method(name)
        assert isinstance(method, ModuleDistiller) and method.ce_weight == 0.5
    finally:
        graphkd.distill.METHODS._factories.pop(name, None)
        sys.modules.pop("plain_methods", None)


ROOT = Path(__file__).resolve().parents[2]
PROBE = re.compile(
    r"\b(hasattr|getattr)\((method|distiller|self\.method|d|m|models\.distiller)\s*,"
)


def test_the_engine_and_the_ensemble_never_probe_a_method():
    files = [*sorted((ROOT / "graphkd/engine").glob("*.py")), ROOT / "graphkd/distill/ensemble.py"]
    probes = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PROBE.search(line)
    ]
    assert not probes, "\n".join(probes)


def test_presets_register_on_import_without_the_registry_functions():
    code = (
        "import graphkd.distill.presets\n"
        "from graphkd.distill.method_registry import METHODS\n"
        f"print(METHODS.names() == {list_methods()!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "True", done.stderr


def dtype_responses(dtype, virtual, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def one(width):
        randn = lambda *shape: torch.randn(8, *shape, generator=generator).to(dtype)  # noqa: E731
        return Responses(
            randn(10),
            embedding=randn(width),
            features={
                name: randn(c, 4 // k, 4 // k) for k, (name, c) in enumerate(CHANNELS.items(), 1)
            },
            index=torch.arange(8),
            labels=torch.arange(8) % 10,
        )

    teacher, student = one(24), one(16)
    if virtual:
        teacher = dataclasses.replace(teacher, virtual=one(24))
        student = dataclasses.replace(student, virtual=one(16))
    return teacher, student


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", list_methods())
def test_every_method_takes_other_dtypes_or_names_the_fix(name, dtype):
    method = make(name)
    for stage in method.stages():
        method.set_stage(stage.name)  # into the student's stage
    teacher, student = dtype_responses(dtype, method.needs_virtual_view)
    try:
        loss = method(teacher, student)["loss"]
    except ValueError as error:
        assert "parameters but got" in str(error) and "float32" in str(error)
        assert next(method.parameters(), None) is not None  # only methods with parameters
    else:
        assert torch.isfinite(loss)
    if dtype == torch.float64:  # converted, every method computes in float64
        loss = method.double()(teacher, student)["loss"]
        assert loss.dtype == torch.float64 and torch.isfinite(loss)


@pytest.mark.parametrize("name", list_methods())
def test_every_method_builds_named_graphs_in_every_stage(name):
    """``build_graphs`` returns two dicts with the same names, in every stage, for a method
    and for an ensemble of it; each name pairs a teacher and a student graph batched over
    as many member graphs (one, or one per sample or sensing-point pair), none empty."""
    method = make(name)
    ensemble = EnsembleDistiller([make(name), make(name)])
    teacher, student = dtype_responses(torch.float32, method.needs_virtual_view)
    for stage in method.stages():
        method.set_stage(stage.name)
        ensemble.set_stage(stage.name)
        teacher_graphs, student_graphs = method.build_graphs(teacher, student)
        assert isinstance(teacher_graphs, dict) and isinstance(student_graphs, dict)
        assert teacher_graphs and teacher_graphs.keys() == student_graphs.keys(), stage.name
        for key, teacher_graph in teacher_graphs.items():
            student_graph = student_graphs[key]
            assert isinstance(teacher_graph, KnowledgeGraph), key
            assert isinstance(student_graph, KnowledgeGraph), key
            members = len(teacher_graph.batch_num_nodes)
            assert members == len(student_graph.batch_num_nodes), key
            assert min(teacher_graph.batch_num_nodes + student_graph.batch_num_nodes) > 0, key
        members_graphs = ensemble.build_graphs([teacher, teacher], student)
        assert [graphs.keys() for graphs in members_graphs] == [teacher_graphs.keys()] * 2
