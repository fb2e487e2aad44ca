"""Functional building blocks for the independent reference forwards of the zoo tests.

Each family's test computes the community architecture's logits from a state_dict with
``torch.nn.functional`` only, written from the architecture's description, and compares
them with the zoo module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FIXTURE = Path(__file__).parent / "fixtures" / "cifar100_zoo_state_dicts.json"

State = Dict[str, Tensor]


def load_fixture() -> Dict[str, Dict[str, object]]:
    """name -> {"params": int, "state_dict": [[key, shape], ...]}."""
    return json.loads(FIXTURE.read_text())


def conv(
    x: Tensor, sd: State, key: str, stride: int = 1, padding: int = 0, groups: int = 1
) -> Tensor:
    return F.conv2d(x, sd[key + ".weight"], sd.get(key + ".bias"), stride, padding, 1, groups)


def bn(x: Tensor, sd: State, key: str) -> Tensor:
    return F.batch_norm(
        x,
        sd[key + ".running_mean"],
        sd[key + ".running_var"],
        sd[key + ".weight"],
        sd[key + ".bias"],
        training=False,
        momentum=0.0,
        eps=1e-5,
    )


def linear(x: Tensor, sd: State, key: str) -> Tensor:
    return F.linear(x, sd[key + ".weight"], sd[key + ".bias"])


def shuffle(x: Tensor, groups: int) -> Tensor:
    """[N, C, H, W] -> [N, g, C/g, H, W] -> swap the two channel axes -> [N, C, H, W]."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


def randomise_batch_norms(model: nn.Module, seed: int = 0) -> State:
    """Give every batch norm non-trivial affine parameters and running statistics (so that
    a wrongly placed or missing batch norm changes the output); return the state_dict."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
    return {k: v.clone() for k, v in model.state_dict().items()}


def count_blocks(sd: State, prefix: str) -> int:
    """Number of ``prefix.<i>.`` children in the state_dict keys."""
    indices = {int(k[len(prefix) + 1 :].split(".")[0]) for k in sd if k.startswith(prefix + ".")}
    return max(indices) + 1


def fixture_state(entries: List[Tuple[str, List[int]]], seed: int = 0) -> State:
    """A random state_dict with the fixture's keys and shapes."""
    gen = torch.Generator().manual_seed(seed)
    state: State = {}
    for key, shape in entries:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        else:
            state[key] = 0.1 * torch.randn(shape, generator=gen)
    return state
