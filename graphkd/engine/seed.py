"""Seed every random number generator graphkd draws from."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python's ``random``, numpy, torch (CPU and CUDA) and DGL with ``seed``.

    Parameters
    ----------
    seed : int
        The seed.
    deterministic : bool, default False
        Also restrict torch to deterministic algorithms (and cuDNN to deterministic,
        non-benchmarking mode), so that reruns and resumed runs are bitwise equal.

    Example
    -------
    >>> import torch
    >>> seed_everything(3); a = torch.rand(2)
    >>> seed_everything(3); torch.equal(a, torch.rand(2))
    True
    """
    from graphkd._dgl import dgl

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    dgl.seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
