"""A vision-transformer student from timm through the whole command-line path, in the
ConvNet-to-ViT set-up of the VRM paper's Table 3 (Li et al.'s), at tiny sizes.

The set-up: the teacher is trained at the dataset's size with timm's training transform;
the student sees larger images (``data.image_size``, bicubic random-resized crops) and
the teacher the student's batch resized back (``input_size`` in
``model.network_options``); AdamW with a warm-up cosine schedule. Here Fashion-MNIST's
28-pixel images become 16 pixels for the teacher (a resnet8) and 32 for a one-block
DeiT-Ti with 8-pixel patches, in seconds.
"""

from __future__ import annotations

import math
import sys

import pytest
import torch

from graphkd.cli import main
from graphkd.engine import MetricsLog, Trainer, load_config
from graphkd.models import input_resize

from .conftest import tiny_overrides

STUDENT = "timm:deit_tiny_patch16_224"
TINY_DEIT = (
    f"model.network_options.{STUDENT}="
    "{img_size: 32, patch_size: 8, depth: 1, drop_path_rate: 0.1, input_size: 32}"
)
TEACHER_AT_16 = "model.network_options.resnet8={input_size: 16}"
ADAMW_COSINE = [
    "optim.optimizer=adamw",
    "optim.schedule=cosine",
    "optim.lr=0.0005",
    "optim.min_lr=0.000005",
    "optim.warmup_epochs=1",
    "optim.warmup_lr=0.0000005",
    "optim.weight_decay=0.05",
]


def _sets(overrides: list) -> list:
    args = []
    for override in overrides:
        args += ["--set", override]
    return args


def _teacher_overrides(output: str) -> list:
    return [
        *tiny_overrides(output),
        "data.limit_batches=1",
        "data.augmentation=timm",
        "data.image_size=16",
        TEACHER_AT_16,
    ]


def _student_overrides(output: str) -> list:
    return [
        *tiny_overrides(output, epochs=2),
        "data.limit_batches=1",
        "data.augmentation=timm",
        "data.image_size=32",
        f"model.student={STUDENT}",
        TINY_DEIT,
        TEACHER_AT_16,
        *ADAMW_COSINE,
    ]


@pytest.mark.parametrize("method", ["vrm", "kd"])
def test_cnn_teacher_distils_into_a_timm_vit_student_from_the_cli(
    tmp_path, capsys, monkeypatch, method
):
    pytest.importorskip("timm")
    import graphkd.engine.run_models as run_models

    seen = {}
    real_tap = run_models.tap

    def recording_tap(model, **kwargs):
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        role = "vit" if "VisionTransformer" in type(model).__name__ else "cnn"
        first.register_forward_pre_hook(
            lambda m, args: seen.setdefault(role, set()).add(tuple(args[0].shape[-2:]))
        )
        assert input_resize(model) is not None
        return real_tap(model, **kwargs)

    monkeypatch.setattr(run_models, "tap", recording_tap)
    out = str(tmp_path)
    assert (
        main(["train-teacher", "--config", "fashion_mnist", *_sets(_teacher_overrides(out))]) == 0
    )
    assert seen == {"cnn": {(16, 16)}}
    seen.clear()

    args = ["distill", "--config", "fashion_mnist", "--method", method]
    assert main([*args, *_sets(_student_overrides(out))]) == 0
    assert f"student ({method})" in capsys.readouterr().out
    assert seen == {"cnn": {(16, 16)}, "vit": {(32, 32)}}  # the teacher at 16, the ViT at 32
    run = tmp_path / method
    for name in ("config.yaml", "metrics.csv", "last.pt", "model.pt"):
        assert (run / name).is_file(), name
    rows = MetricsLog(run / "metrics.csv").rows()
    # warm-up from 5e-7, then the cosine over both epochs: 5e-6 + (5e-4 - 5e-6) / 2
    assert [float(row["lr"]) for row in rows] == pytest.approx([5e-7, 2.525e-4])
    accuracy = float(rows[-1]["test_acc"])
    assert math.isfinite(accuracy) and 0.0 <= accuracy <= 100.0
    saved = torch.load(run / "model.pt", weights_only=True)
    assert saved["arch"] == STUDENT and saved["options"]["input_size"] == 32

    # evaluate reads the 28-pixel test images and the student resizes them to its 32
    assert main(["evaluate", "--checkpoint", str(run / "model.pt"), "--device", "cpu"]) == 0
    assert "top-1" in capsys.readouterr().out


def test_a_resized_dataset_needs_every_network_to_name_its_input_size(tmp_path):
    overrides = [o for o in _student_overrides(str(tmp_path)) if o != TEACHER_AT_16]
    weights = tmp_path / "weights.pt"
    weights.touch()  # the check comes before the teacher is read
    overrides += ["data.augmentation=standard", f"model.teacher_checkpoint={weights}"]
    config = load_config("fashion_mnist", overrides)
    with pytest.raises(ValueError) as error:
        Trainer(progress=False, log=lambda line: None).distill(config, "kd")
    assert str(error.value) == (
        "data.image_size 32 resizes fashion_mnist's 28-pixel images for this run, but a "
        "teacher, resnet8, does not say which side it sees (graphkd evaluate reads the images "
        "at 28); give it one: --set 'model.network_options.resnet8={input_size: 28}' (the side "
        "it was trained at)"
    )
    student = load_config("fashion_mnist", [*tiny_overrides(str(tmp_path)), "data.image_size=32"])
    with pytest.raises(ValueError, match=r"the network trained, resnet8, .*\{input_size: 32\}"):
        Trainer(progress=False, log=lambda line: None).train_teacher(student)
    assert [path.name for path in tmp_path.iterdir()] == ["weights.pt"]


def test_the_timm_augmentation_without_timm_names_pip_install_timm(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm.data", None)  # import timm.data fails
    config = load_config(
        "fashion_mnist", [*tiny_overrides(str(tmp_path)), "data.augmentation=timm"]
    )
    with pytest.raises(ImportError, match="data.augmentation 'timm' .* pip install timm"):
        Trainer(progress=False, log=lambda line: None).train_teacher(config)
    assert not any(tmp_path.iterdir())
