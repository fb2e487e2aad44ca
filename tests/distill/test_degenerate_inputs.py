"""Every registered method keeps its loss and gradients finite on degenerate batches.

A network whose ReLUs died emits all-zero features for some or all samples, and a
collapsed one emits identical rows; neither may turn a gradient into NaN or Inf. The
test runs each preset with its defaults (each stage of a staged method) on responses
that carry everything any preset reads: logits, pooled embeddings, stage outputs,
dataset indices, labels and a virtual view.
"""

from __future__ import annotations

from typing import Callable, Dict

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.methods import method_arguments

BATCH, CLASSES, SAMPLES = 8, 10, 64
WIDTHS = {
    "teacher": (24, {"s1": 4, "s2": 8, "s3": 12}),
    "student": (16, {"s1": 4, "s2": 8, "s3": 12}),
}
SPATIAL = {"s1": 4, "s2": 2, "s3": 2}
#: Options keeping the memory-bank methods small.
SMALL = {"hkd": {"nce_k": 16}, "hkd_kd": {"nce_k": 16}, "crd": {"nce_k": 16}}


def fill_zeros(shape) -> torch.Tensor:
    return torch.zeros(shape)


def fill_ones(shape) -> torch.Tensor:
    return torch.ones(shape)


def fill_half_zero(shape) -> torch.Tensor:
    """Random rows, the first half of the samples all zero (dead units on some samples)."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    x[: shape[0] // 2] = 0
    return x


FILLS: Dict[str, Callable] = {
    "zeros": fill_zeros,
    "identical": fill_ones,
    "half_zero": fill_half_zero,
}


def make_responses(role: str, fill: Callable, grad: bool) -> Responses:
    dim, channels = WIDTHS[role]

    def tensor(*shape):
        return fill((BATCH, *shape)).requires_grad_(grad)

    def one_view() -> Responses:
        return Responses(
            logits=tensor(CLASSES),
            embedding=tensor(dim),
            features={k: tensor(c, SPATIAL[k], SPATIAL[k]) for k, c in channels.items()},
            index=torch.arange(BATCH),
            labels=torch.arange(BATCH) % CLASSES,
        )

    responses = one_view()
    responses.virtual = one_view()
    return responses


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


def stages(distiller) -> list:
    """``(name, trains)`` of each stage; ``(None, "student")`` for single-stage methods."""
    if not hasattr(distiller, "stages"):
        return [(None, "student")]
    return [(stage.name, stage.trains) for stage in distiller.stages()]


def student_tensors(r: Responses) -> list:
    views = [r, r.virtual] if r.virtual is not None else [r]
    return [t for v in views for t in (v.logits, v.embedding, *v.features.values())]


@pytest.mark.parametrize("fill", list(FILLS))
@pytest.mark.parametrize("name", graphkd.list_methods())
def test_gradients_stay_finite_on_degenerate_batches(name, fill):
    distiller = make_method(name)
    for stage, trains in stages(distiller):
        if stage is not None:
            distiller.set_stage(stage)
        teacher = make_responses("teacher", FILLS[fill], grad=False)
        student = make_responses("student", FILLS[fill], grad=True)
        distiller.zero_grad()
        if trains == "distiller":
            loss = distiller.stage_loss(stage, teacher)["loss"]
        else:
            loss = distiller(teacher, student)["loss"]
        assert torch.isfinite(loss), f"{name} ({stage}): loss {float(loss)}"
        loss.backward()
        grads = [t.grad for t in student_tensors(student) if t.grad is not None]
        grads += [p.grad for p in distiller.parameters() if p.grad is not None]
        for grad in grads:
            assert torch.isfinite(grad).all(), f"{name} ({stage}): non-finite gradient"
