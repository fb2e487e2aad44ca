"""benchmarks/peers.py: its minimal VRM formulation computes graphkd's VRM loss."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
