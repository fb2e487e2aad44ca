"""Tiny Fashion-MNIST runs for the engine tests."""

from __future__ import annotations

from typing import List

import pytest

from graphkd.data import FashionMNIST


def tiny_overrides(output: str, epochs: int = 1) -> List[str]:
    """A run of a few seconds: 64 training images, 64 test images, resnet8 models."""
    return [
        f"run.output={output}",
        "run.device=cpu",
        "run.deterministic=true",
        "data.subset=64",
        "data.test_subset=64",
        "data.batch_size=32",
        "data.test_batch_size=64",
        "model.teacher=resnet8",
        "model.student=resnet8",
        f"optim.epochs={epochs}",
        "optim.milestones=[1]",
    ]


@pytest.fixture(autouse=True)
def _needs_fashion_mnist() -> None:
    if FashionMNIST.find_files(None, train=True) is None:
        pytest.skip("Fashion-MNIST is not installed")
