"""Shared test settings: deterministic, double precision where references need it."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
