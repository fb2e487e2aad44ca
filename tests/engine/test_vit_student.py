"""A vision-transformer student from timm through the whole command-line path.

The VRM paper's ConvNet-to-ViT set-up distils a CNN teacher into ViT students. graphkd
builds a ``timm:<model>`` network with the dataset's classes and channels but not its
image size, so the test's student is a timm ViT that needs no fixed input size: XCiT-nano
with 8-pixel patches (a pure transformer, 2.9M parameters, Fourier position encoding)
runs on Fashion-MNIST's 28-pixel grey images as it is.
"""

from __future__ import annotations

import math

import pytest

from graphkd.cli import main
from graphkd.engine import MetricsLog

from .conftest import tiny_overrides

timm = pytest.importorskip("timm")

STUDENT = "timm:xcit_nano_12_p8_224"


def _sets(output: str) -> list:
    args = []
    for override in [*tiny_overrides(output), "data.limit_batches=1", f"model.student={STUDENT}"]:
        args += ["--set", override]
    return args


@pytest.mark.parametrize("method", ["vrm", "kd"])
def test_cnn_teacher_distils_into_a_timm_vit_student_from_the_cli(tmp_path, capsys, method):
    out = str(tmp_path)
    assert main(["train-teacher", "--config", "fashion_mnist", *_sets(out)]) == 0
    assert (tmp_path / "teacher" / "model.pt").is_file()

    assert main(["distill", "--config", "fashion_mnist", "--method", method, *_sets(out)]) == 0
    assert f"student ({method})" in capsys.readouterr().out
    run = tmp_path / method
    for name in ("config.yaml", "metrics.csv", "last.pt", "model.pt"):
        assert (run / name).is_file(), name
    assert STUDENT in (run / "config.yaml").read_text()
    rows = MetricsLog(run / "metrics.csv").rows()
    assert len(rows) == 1
    accuracy = float(rows[-1]["test_acc"])
    assert math.isfinite(accuracy) and 0.0 <= accuracy <= 100.0
