"""Shared fixtures of the data tests: tiny Fashion-MNIST and CIFAR-100 copies on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Tuple

import numpy as np
import pytest

from .fakes import write_cifar100, write_fashion


@pytest.fixture
def fashion_writer() -> Callable[..., Tuple[np.ndarray, np.ndarray]]:
    return write_fashion


@pytest.fixture
def cifar_root(tmp_path: Path) -> Tuple[Path, Dict[str, Tuple]]:
    root = tmp_path / "cifar"
    return root, write_cifar100(root, {"train": 6, "test": 4})
