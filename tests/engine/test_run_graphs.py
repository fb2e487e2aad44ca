"""``graphkd graph RUN_DIR``: a run's knowledge graphs restored from its folder and drawn."""

from __future__ import annotations

import torch

from graphkd.cli import main
from graphkd.engine.run_graphs import run_batch

from .conftest import tiny_overrides


def _sets(output: str) -> list:
    return [arg for o in [*tiny_overrides(output), "data.limit_batches=1"] for arg in ("--set", o)]


def test_graph_command_draws_a_distillation_run(tmp_path, capsys):
    out = str(tmp_path)
    assert main(["train-teacher", "--config", "fashion_mnist", *_sets(out)]) == 0
    assert main(["distill", "--config", "fashion_mnist", "--method", "vrm", *_sets(out)]) == 0
    run = tmp_path / "vrm"
    batch = run_batch(run, batch_size=8)
    trained = torch.load(run / "last.pt", weights_only=False)["distiller"]
    for key, value in batch.distiller.state_dict().items():  # the run's method state
        torch.testing.assert_close(value, trained[key])
    assert batch.student.virtual is not None and batch.labels.shape == (8,)
    capsys.readouterr()
    assert main(["graph", str(run), "--batch-size", "8"]) == 0
    assert (run / "graph.png").stat().st_size > 1000
    assert f"graphs of {run} (epoch 1) on 8 test images" in capsys.readouterr().out


def test_graph_command_names_the_fix_for_a_wrong_folder(tmp_path, capsys):
    assert main(["graph", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds no config.yaml; give the folder of a distillation run" in err
