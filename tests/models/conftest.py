"""Model tests run single-threaded: with tiny batches, intra-op threads only add overhead,
and on a shared machine spinning worker threads slow a forward pass by orders of
magnitude. The previous thread count is restored after each test."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
