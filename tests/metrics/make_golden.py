"""Golden values of every metric on fixed inputs, stored in ``golden_metrics.json``.

The JSON file holds the inputs themselves (drawn once from a seeded generator) and the
value of each case, so the comparison does not depend on the random generator of the
installed torch. Regenerate after an intended change of a metric's values, from the
repository root::

    python -m tests.metrics.make_golden
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import torch

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import create_metric

from .cases import DST, NUM_NODES, SRC, edge_pair, negatives_for, node_pair

GOLDEN_PATH = Path(__file__).with_name("golden_metrics.json")

# (case id, metric name, options, inputs: "node" | "edge" | "edge_1d", with negatives)
CASES: List[tuple] = [
    ("mse", "mse", {}, "node", False),
    ("mse_sum", "mse", {"reduction": "sum"}, "node", False),
    ("mse_batchmean", "mse", {"reduction": "batchmean"}, "node", False),
    ("mse_edges", "mse", {}, "edge", False),
    ("l1", "l1", {}, "node", False),
    ("l1_batchmean", "l1", {"reduction": "batchmean"}, "node", False),
    ("smooth_l1", "smooth_l1", {}, "node", False),
    ("smooth_l1_beta", "smooth_l1", {"beta": 0.5, "reduction": "sum"}, "node", False),
    ("cosine", "cosine", {}, "node", False),
    ("pearson", "pearson", {}, "node", False),
    ("pearson_dim0", "pearson", {"dim": 0}, "node", False),
    ("kl", "kl", {}, "node", False),
    (
        "kl_t4_scaled",
        "kl",
        {"temperature": 4.0, "scale_by_temperature_squared": True},
        "node",
        False,
    ),
    ("kl_reverse_sum", "kl", {"direction": "student||teacher", "reduction": "sum"}, "node", False),
    ("kl_edges", "kl", {}, "edge", False),
    (
        "kl_edges_1d_reverse_sum_t2",
        "kl",
        {"direction": "student||teacher", "reduction": "sum", "temperature": 2.0},
        "edge_1d",
        False,
    ),
    ("js", "js", {}, "node", False),
    ("js_t2_sum", "js", {"temperature": 2.0, "reduction": "sum"}, "node", False),
    ("js_edges", "js", {}, "edge", False),
    ("kd", "kd", {}, "node", False),
    ("kd_tau1", "kd", {"tau": 1.0}, "node", False),
    ("zscore_kd", "zscore_kd", {}, "node", False),
    ("zscore_kd_tau3", "zscore_kd", {"tau": 3.0}, "node", False),
    ("infonce", "infonce", {}, "node", False),
    ("infonce_negatives_t05", "infonce", {"temperature": 0.5}, "node", True),
]


def golden_inputs() -> Dict[str, Any]:
    """The fixed inputs as nested lists (plus the graph)."""
    student, teacher = node_pair(seed=11, shape=(4, 5))
    edge_student, edge_teacher = edge_pair(seed=12, heads=2)
    edge_student_1d, edge_teacher_1d = edge_pair(seed=13, heads=None)
    return {
        "node": [student.tolist(), teacher.tolist()],
        "negatives": negatives_for(student, k=3, seed=14).tolist(),
        "edge": [edge_student.tolist(), edge_teacher.tolist()],
        "edge_1d": [edge_student_1d.tolist(), edge_teacher_1d.tolist()],
        "graph": {"src": SRC, "dst": DST, "num_nodes": NUM_NODES},
    }


def evaluate(case: tuple, inputs: Dict[str, Any]) -> torch.Tensor:
    """The metric value of one case on the stored inputs."""
    _, name, options, kind, with_negatives = case
    student, teacher = (torch.tensor(x, dtype=torch.float32) for x in inputs[kind])
    kwargs: Dict[str, Any] = {}
    if kind != "node":
        g = inputs["graph"]
        kwargs["graph"] = KnowledgeGraph(
            torch.tensor(g["src"]), torch.tensor(g["dst"]), num_nodes=g["num_nodes"]
        )
    if with_negatives:
        kwargs["negatives"] = torch.tensor(inputs["negatives"], dtype=torch.float32)
    return create_metric(name, **options)(student, teacher, **kwargs)


def main() -> None:
    inputs = golden_inputs()
    cases = [
        {
            "id": case[0],
            "metric": case[1],
            "options": case[2],
            "inputs": case[3],
            "negatives": case[4],
            "value": float(evaluate(case, inputs)),
        }
        for case in CASES
    ]
    GOLDEN_PATH.write_text(json.dumps({"inputs": inputs, "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} golden values to {GOLDEN_PATH}")


if __name__ == "__main__":
    main()
