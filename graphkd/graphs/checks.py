"""Preconditions shared by the graph builders."""

from __future__ import annotations


def check_relational_batch(num_nodes: int, what: str = "samples") -> None:
    """Raise when a relational graph would have fewer than two nodes."""
    if num_nodes < 2:
        raise ValueError(
            f"a relational graph needs at least 2 {what}, got {num_nodes}; use a batch size "
            ">= 2 (DataLoader(drop_last=True) avoids a last batch of one sample)"
        )
