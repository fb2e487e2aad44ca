"""write_report and `graphkd analyze` on tiny untrained models and 64 Fashion-MNIST images."""

import json

import pytest
import torch

from graphkd.analysis import write_report
from graphkd.cli import main
from graphkd.data import FashionMNIST
from graphkd.models import create_model

pytestmark = pytest.mark.skipif(
    FashionMNIST.find_files(None, train=False) is None
    or FashionMNIST.find_files(None, train=True) is None,
    reason="Fashion-MNIST is not installed",
)


def save(path, name, num_classes=10):
    net = create_model(name, num_classes=num_classes, in_channels=1, input_size=28)
    torch.save({"model": net.state_dict()}, path)
    return str(path)


@pytest.fixture()
def checkpoints(tmp_path):
    return {
        "t1": save(tmp_path / "t1.pt", "resnet8"),
        "t2": save(tmp_path / "t2.pt", "resnet14"),
        "s": save(tmp_path / "s.pt", "resnet8"),
    }


def test_analyze_writes_the_report(tmp_path, checkpoints, capsys):
    out = tmp_path / "report"
    argv = ["analyze", "--teachers", f"{checkpoints['t1']},{checkpoints['t2']}"]
    argv += ["--teacher-models", "resnet8,resnet14", "--student", checkpoints["s"]]
    argv += ["--student-model", "resnet8", "--dataset", "fashion_mnist", "--subset", "64"]
    argv += ["--batch-size", "32", "--device", "cpu", "--output", str(out)]
    assert main(argv) == 0
    assert "report:" in capsys.readouterr().out
    text = (out / "report.md").read_text()
    for heading in ["Fidelity", "Mutual information", "Attention IoU", "Affinity", "gap"]:
        assert heading in text
    names = ["cam_overlays", "relations", "knn_graph_teacher", "knn_graph_student"]
    for name in names:
        assert (out / f"{name}.png").stat().st_size > 1000
        assert f"({name}.png)" in text
    measures = json.loads((out / "report.json").read_text())
    assert measures["images"] == 64
    assert 0 <= measures["fidelity"]["ensemble"]["agreement"] <= 1
    fid = measures["fidelity"]["teacher 1 (resnet8)"]
    assert fid["kl_scaled"] == pytest.approx(10 * fid["kl"])
    pairs = measures["attention_iou"]
    assert set(pairs) == {
        "teacher 1 (resnet8) vs teacher 2 (resnet14)",
        "teacher 1 (resnet8) vs student (resnet8)",
        "teacher 2 (resnet14) vs student (resnet8)",
    }
    assert all(0 <= v <= 1 for v in pairs.values())
    assert set(measures["affinity"]["student (resnet8)"]) == {"weak", "strong"}
    gap = measures["train_val_gap"]["student (resnet8)"]
    assert gap["gap"] == pytest.approx(gap["train_acc"] - gap["val_acc"])


def test_student_identical_to_its_teacher_is_faithful(tmp_path, checkpoints, capsys):
    report = write_report(
        [checkpoints["s"]], ["resnet8"], checkpoints["s"], "resnet8", "fashion_mnist",
        tmp_path / "same", subset=16, batch_size=16, device="cpu", cam_images=2,
        progress=True,
    )  # fmt: skip
    bars = capsys.readouterr().err  # a progress bar for every pass over the data
    for title in ("outputs and CAMs", "affinity, strong, student", "training accuracy"):
        assert title in bars
    fid = report.measures["fidelity"]["ensemble"]
    assert fid["agreement"] == 1.0 and fid["kl"] == pytest.approx(0.0, abs=1e-6)
    assert report.measures["attention_iou"]["teacher 1 (resnet8) vs student (resnet8)"] == 1.0
    assert report.markdown.is_file() and len(report.figures) == 4


def test_bad_input_exits_with_a_message(tmp_path, checkpoints, capsys):
    base = ["--student", checkpoints["s"], "--student-model", "resnet8", "--dataset"]
    base += ["fashion_mnist", "--subset", "8", "--device", "cpu", "--output", str(tmp_path / "x")]
    wrong_count = [
        "analyze",
        "--teachers",
        checkpoints["t1"],
        "--teacher-models",
        "resnet8,resnet8",
    ]
    assert main([*wrong_count, *base]) == 2
    assert "one zoo model name per checkpoint" in capsys.readouterr().err
    unknown = ["analyze", "--teachers", checkpoints["t1"], "--teacher-models", "resnet9"]
    assert main([*unknown, *base]) == 2
    assert "unknown model 'resnet9'" in capsys.readouterr().err
    other_classes = save(tmp_path / "c100.pt", "resnet8", num_classes=100)
    mismatch = ["analyze", "--teachers", other_classes, "--teacher-models", "resnet8"]
    assert main([*mismatch, *base]) == 2
    assert "100 classes" in capsys.readouterr().err
