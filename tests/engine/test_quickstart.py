"""The quickstart's shipped teacher and protocol record agree with the committed benchmark."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from graphkd.engine.quickstart import QUICKSTART_METHOD, protocol_record, shipped_teacher

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "benchmarks/results/fashion_mnist_protocol"


def _gains_in_results_table(text: str) -> dict:
    """Each row's 'vs CE' cell of results.md as (mean, low, high, seeds)."""
    gains = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 9:
            continue
        match = re.fullmatch(r"([+-][\d.]+) \[([+-][\d.]+), ([+-][\d.]+)\]\*?", cells[5])
        if match:
            gains[cells[0]] = (*map(float, match.groups()), int(cells[4]))
    return gains


def test_the_record_copies_every_row_of_the_protocol_table():
    record = protocol_record()
    table = _gains_in_results_table((PROTOCOL / "results.md").read_text())
    copied = {
        name: (row["mean"], row["low"], row["high"], row["seeds"])
        for name, row in record["gain_over_ce"].items()
    }
    assert copied == table and QUICKSTART_METHOD in copied
    low = copied[QUICKSTART_METHOD][1]
    assert low > 0, "the quickstart's method must gain significantly on the protocol"


def test_the_shipped_teacher_is_the_protocols():
    def digest(path):
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    assert digest(shipped_teacher()) == digest(PROTOCOL / "teacher/model.pt")
    saved = torch.load(shipped_teacher(), map_location="cpu", weights_only=True)
    teacher = protocol_record()["teacher"]
    assert (saved["arch"], saved["dataset"], saved["test_acc"]) == (
        teacher["arch"],
        "fashion_mnist",
        teacher["test_acc"],
    )
