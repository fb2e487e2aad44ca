"""benchmarks/peers.py: its minimal VRM formulation computes graphkd's VRM loss, and its
torchdistill cases compute the same values as graphkd's presets (skipped without
torchdistill)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import graphkd
from graphkd import Responses

REPO = Path(__file__).resolve().parents[2]


def load_peers(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_peers", REPO / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_peers", module)  # its dataclass looks itself up
    spec.loader.exec_module(module)
    return module


def test_minimal_vrm_equals_the_preset(monkeypatch):
    peers = load_peers(monkeypatch)
    generator = torch.Generator().manual_seed(0)
    views = [torch.randn(12, 9, generator=generator, dtype=torch.float64) for _ in range(4)]
    student = [v.requires_grad_(True) for v in views[2:]]
    ours = graphkd.create_method("vrm", adaptor=False)(
        Responses(views[0], virtual=Responses(views[1])),
        Responses(student[0], virtual=Responses(student[1])),
    )["loss"]
    minimal = peers.minimal_vrm(views[0], views[1], student[0], student[1])
    torch.testing.assert_close(ours, minimal)
    ours_grads = torch.autograd.grad(ours, student)
    minimal_grads = torch.autograd.grad(minimal, student)
    for mine, reference in zip(ours_grads, minimal_grads):
        torch.testing.assert_close(mine, reference)


def feature_cases(monkeypatch):
    """The feature-map and CRD cases at a small batch, dataset and negative count."""
    pytest.importorskip("torchdistill")
    peers = load_peers(monkeypatch)
    torch.manual_seed(0)
    cases = peers.make_feature_cases(4, 10, 300, 16, torch.device("cpu"))
    return peers, {case.name: case for case in cases}


def test_feature_cases_cover_the_baselines_torchdistill_implements(monkeypatch):
    _, cases = feature_cases(monkeypatch)
    assert set(cases) == {"at", "fsp", "vid", "fitnet", "ab", "ickd", "reviewkd", "crd"}


@pytest.mark.parametrize("name", ["at", "vid", "fitnet", "ab", "ickd", "reviewkd", "crd"])
def test_graphkd_and_torchdistill_compute_the_same_loss(monkeypatch, name):
    """With the peer's connectors, heads and banks holding graphkd's initial values, the
    two losses agree; a case marked comparable that is not fails here."""
    _, cases = feature_cases(monkeypatch)
    case = cases[name]
    assert case.compare_values
    ours, theirs = case.graphkd().detach(), case.peer().detach().reshape(())  # CRD's is (1,)
    assert float(theirs) != 0.0
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=0.0)


def test_fsp_differs_by_design(monkeypatch):
    """torchdistill's FSPLoss sums column L2 norms of max-pooled FSP matrices; graphkd's
    is the mean squared difference of average-pooled ones (the table's FSP note)."""
    _, cases = feature_cases(monkeypatch)
    case = cases["fsp"]
    assert not case.compare_values
    ours, theirs = float(case.graphkd().detach()), float(case.peer().detach())
    assert abs(ours - theirs) > 0.5 * abs(theirs)


def test_crd_values_are_compared_before_the_peer_updates_its_banks(monkeypatch):
    """torchdistill's CRDLoss writes its memory in every forward pass, so the values are
    compared on the first pass, from the banks both sides start with."""
    peers, cases = feature_cases(monkeypatch)
    result = peers.measure(cases["crd"], 1, torch.device("cpu"))
    assert result["value difference"] < 1e-5
    drifted = abs(float(cases["crd"].graphkd().detach()) - float(cases["crd"].peer().detach()))
    assert drifted > 1e-3


def test_copy_parameters_rejects_modules_of_other_shapes(monkeypatch):
    peers = load_peers(monkeypatch)
    source, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    peers.copy_parameters(source, target)
    torch.testing.assert_close(target.weight, source.weight)
    with pytest.raises(ValueError, match="parameters differ"):
        peers.copy_parameters(source, torch.nn.Linear(2, 3))
