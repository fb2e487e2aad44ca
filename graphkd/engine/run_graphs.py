"""One batch of a finished (or checkpointed) distillation run: its method, teacher and
student, restored from the run folder, answering a batch of test images."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from graphkd.data import create_dataset
from graphkd.distill import Distiller
from graphkd.engine.checkpoint import read_training_checkpoint
from graphkd.engine.config import DataConfig, load_config
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.method_setup import two_view_transform
from graphkd.engine.run_checks import CROSS_ENTROPY
from graphkd.engine.run_data import data_info, training_set
from graphkd.engine.run_models import build_models
from graphkd.engine.training_views import teacher_responses
from graphkd.responses import Responses


@dataclass
class RunBatch:
    """A run's method and both networks' responses to one test batch."""

    distiller: Distiller
    teacher: Union[Responses, List[Responses]]
    student: Responses
    labels: Tensor
    epoch: int


def run_batch(run: Union[str, Path], batch_size: int = 32, seed: int = 0) -> RunBatch:
    """Restore the run in folder ``run`` (its ``config.yaml`` and ``last.pt``) on the CPU
    and feed it the first ``batch_size`` test images (and, for two-view methods, their
    virtual view, drawn with ``seed``).

    The method is in its last stage with the state ``last.pt`` holds (MHGD's trained
    attention networks, HKD's encoders...), the student has the checkpoint's weights and
    the teacher the config's checkpoint. Paths in the config are read from the current
    folder, as the run read them.

    Raises
    ------
    FileNotFoundError
        ``run`` holds no ``config.yaml`` or ``last.pt`` (the message says what to give).
    ValueError
        The run is a cross-entropy run (it has no method and no graphs).
    """
    folder = Path(run)
    for name in ("config.yaml", "last.pt"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder} holds no {name}; give the folder of a distillation run "
                "(e.g. runs/quickstart/mhgd), which holds config.yaml and last.pt"
            )
    config = load_config(folder / "config.yaml")
    if config.method.name == CROSS_ENTROPY:
        raise ValueError(f"{folder} is a cross-entropy run: it has no method, so no graphs")
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, device="cpu"))
    context = DistributedContext(0, 1, torch.device("cpu"))
    state = read_training_checkpoint(folder / "last.pt")
    base_set = training_set(config.data, config.run.seed)
    models = build_models(config, state["arch"], True, base_set, context)
    models.student.model.load_state_dict(state["model"])
    distiller = models.distiller
    assert distiller is not None
    distiller.load_state_dict(state["distiller"])
    distiller.set_stage(models.stages[-1].name)
    models.student.eval()
    distiller.eval()

    images, labels = _first_test_images(config.data, distiller, batch_size, seed)
    virtual = None
    if isinstance(images, (list, tuple)):
        images, virtual = images
    with torch.no_grad():
        student = _responses(models.student(images), labels, virtual, models.student)
        teachers = [teacher_responses(t, images, virtual) for t in models.teachers]
    teachers = [dataclasses.replace(t, labels=labels, index=student.index) for t in teachers]
    teacher: Any = teachers[0] if len(teachers) == 1 else teachers
    return RunBatch(distiller, teacher, student, labels, int(state["epoch"]))


def _first_test_images(data: DataConfig, distiller: Distiller, batch_size: int, seed: int) -> Any:
    """The first ``batch_size`` test images and their labels; for two-view methods the
    images are a pair (real, virtual view drawn with ``seed``)."""
    info = data_info(data)
    transform = info.test_transform()
    if distiller.needs_virtual_view:
        transform = two_view_transform(info, real=transform)
    test_set = create_dataset(
        data.dataset,
        root=data.root,
        train=False,
        download=data.download,
        transform=transform,
        image_size=data.image_size,
    )
    torch.manual_seed(seed)
    return next(iter(DataLoader(test_set, batch_size=batch_size, shuffle=False)))


def _responses(responses: Responses, labels: Tensor, virtual: Any, model: Any) -> Responses:
    index = torch.arange(len(labels))
    if virtual is not None:
        responses = dataclasses.replace(responses, virtual=model(virtual))
    return dataclasses.replace(responses, labels=labels, index=index)
