"""The data of a run: the training set with the views its models need (indexed, or
resident on the device), the test batches, and what the run says about where they come
from."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from graphkd.data import (
    DATASETS,
    DatasetInfo,
    SeededSamples,
    WithIndex,
    create_dataset,
    dataset_info,
)
from graphkd.data.device_batches import DeviceBatches, channels_last, resident_images
from graphkd.data.paths import DOWNLOAD_FIX, resolve_root
from graphkd.engine.config import Config, DataConfig
from graphkd.engine.method_setup import needs_virtual_view
from graphkd.engine.run_checks import resizes_fixed_size_dataset
from graphkd.engine.training_views import training_transform

if TYPE_CHECKING:
    from graphkd.engine.run_models import RunModels


@dataclass
class RunData:
    """The indexed training set (each model's views; batched per epoch by
    :func:`~graphkd.engine.epochs.train_loader`), which view each teacher sees, and the
    test batches."""

    train_set: Dataset
    own_view: List[Optional[int]]
    tests: DataLoader


def data_info(data: DataConfig) -> DatasetInfo:
    """The configured dataset's :class:`DatasetInfo` (an image folder's from ``data.root``)."""
    return dataset_info(data.dataset, data.root, data.image_size)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_for_cpus(data: DataConfig) -> Tuple[DataConfig, Optional[str]]:
    """``data`` with ``workers`` at most the usable CPUs (more only make PyTorch warn and
    the workers compete), and a note saying so, or ``None``."""
    cpus = usable_cpus()
    if data.workers <= cpus:
        return data, None
    note = (
        f"data.workers {data.workers} is more than the {cpus} CPUs this process may "
        f"use: {cpus} data workers (--set data.workers={cpus} to say so)"
    )
    return dataclasses.replace(data, workers=cpus), note


def subset_of(dataset: Dataset, size: Optional[int], seed: int) -> Dataset:
    """``size`` samples of ``dataset`` drawn with ``seed`` (all of it for ``None``)."""
    if size is None or size >= len(dataset):  # type: ignore[arg-type]
        return dataset
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(dataset), generator=generator)[:size]  # type: ignore[arg-type]
    return Subset(dataset, chosen.tolist())


def test_loader(
    dataset: str,
    root: Optional[str] = None,
    batch_size: int = 256,
    subset: Optional[int] = None,
    workers: int = 0,
    seed: int = 0,
    download: bool = False,
    image_size: Optional[int] = None,
) -> DataLoader:
    """The test split of ``dataset`` with its evaluation transform, in a fixed order."""
    test_set = create_dataset(
        dataset, root=root, train=False, download=download, image_size=image_size
    )
    data = subset_of(test_set, subset, seed)
    # its own generator: iterating must not draw from the global RNG the training uses
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        generator=generator,
        persistent_workers=workers > 0,
    )


def training_set(data: DataConfig, seed: int, transform: Optional[Callable] = None) -> Dataset:
    """The training split (its ``data.subset``) with ``transform`` (default: standard)."""
    dataset = create_dataset(
        data.dataset,
        root=data.root,
        train=True,
        download=data.download,
        transform=transform,
        image_size=data.image_size,
    )
    return subset_of(dataset, data.subset, seed)


@contextlib.contextmanager
def data_errors_in_config_terms() -> Iterator[None]:
    """Say a dataset's download fix as the config key (and its command-line form)."""
    try:
        yield
    except (FileNotFoundError, ValueError) as error:
        if DOWNLOAD_FIX not in str(error):
            raise
        setting = "set data.download=true (CLI: --set data.download=true)"
        raise type(error)(str(error).replace(DOWNLOAD_FIX, setting)) from None


def prepare_data(config: Config, base_set: Dataset, models: RunModels) -> RunData:
    """The training set with the views the models need (a virtual view for methods that
    ask for one, a view per teacher under ``data.augmentation``), indexed and batched,
    and the test batches; ``base_set`` (the standard transform) is reused when that is
    all it takes."""
    data, seed = config.data, config.run.seed
    virtual = needs_virtual_view(models.distiller)
    transform, own_view = training_transform(config, data_info(data), len(models.teachers), virtual)
    with data_errors_in_config_terms():
        if virtual or data.augmentation != "standard" or any(i is not None for i in own_view):
            base_set = training_set(data, seed, transform)
        tests = test_loader(
            data.dataset,
            data.root,
            data.test_batch_size,
            data.test_subset,
            data.workers,
            seed,
            data.download,
            data.image_size,
        )
    if data.on_device:
        train_set: Dataset = on_device_training_set(data, base_set, models, own_view, virtual)
    else:
        train_set = SeededSamples(WithIndex(base_set), seed)
    return RunData(train_set, own_view, tests)


def on_device_training_set(
    data: DataConfig,
    base_set: Dataset,
    models: RunModels,
    own_view: List[Optional[int]],
    virtual: bool,
) -> DeviceBatches:
    """``data.on_device``: the training set resident on the run's device (and the models in
    ``channels_last`` on CUDA), after checking that the run asks only for what it does."""
    device = next(models.student.parameters()).device
    unsupported = [
        text
        for text, used in (
            (f"data.augmentation={data.augmentation}", data.augmentation != "standard"),
            ("model.teacher_augmentations", any(i is not None for i in own_view)),
            ("several processes (DDP)", models.student_step is not models.student),
            (f"data.image_size={data.image_size}", resizes_fixed_size_dataset(data)),
        )
        if used
    ]
    if unsupported:
        raise ValueError(
            f"data.on_device supports the standard augmentation of the dataset at its own "
            f"size and the virtual view in one process, not {', '.join(unsupported)}; set "
            "data.on_device=false"
        )
    fast = device.type == "cuda"
    if fast:
        channels_last([models.student, *models.teachers])
    images, labels = resident_images(base_set)
    return DeviceBatches(images, labels, data_info(data), device, virtual, channels_last=fast)


def log_data_source(data: DataConfig, log: Callable[[str], None]) -> None:
    """Say which files the run reads, or that it downloads the dataset (and the size a
    fixed-size dataset is resized to)."""
    cls = DATASETS.get(data.dataset)
    if hasattr(cls, "describe"):  # a folder dataset: where its images are and how many
        try:
            info = data_info(data)
        except (FileNotFoundError, ValueError):
            return  # building the data reports it
        log(
            f"data: {data.dataset} from {resolve_root(data.root)}: {info.num_classes} "
            f"classes, {info.train_size} training images (train/), {info.test_size} "
            f"validation images (val/), {info.image_size}-pixel crops"
        )
        return
    if resizes_fixed_size_dataset(data):
        native = cls.info.image_size
        log(
            f"data: {data.dataset}'s {native}-pixel images resized to {data.image_size} "
            f"(data.image_size): random-resized training crops, resized test images"
        )
    if not hasattr(cls, "find_files"):
        return
    for train in (True, False):
        split = "training" if train else "test"
        found = cls.find_files(data.root, train)
        if found is not None:
            log(f"data: {data.dataset} {split} split from {', '.join(map(str, found))}")
        elif data.download:
            log(
                f"data: no local copy of the {data.dataset} {split} split; downloading it "
                f"into {resolve_root(data.root)} (data.download=true)"
            )
