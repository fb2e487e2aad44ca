"""Evaluation: :func:`evaluate`, the top-1 accuracy and mean cross-entropy of a network on
test batches (after every epoch of a run), and :func:`evaluate_checkpoint`, the same for
saved weights named by file."""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from graphkd.data import DATASETS, dataset_info
from graphkd.engine.run_checkpoint import recorded_model, recorded_options
from graphkd.engine.run_checks import check_model, resolve_device
from graphkd.engine.run_data import test_loader
from graphkd.engine.run_models import build_model
from graphkd.models import load_checkpoint


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    progress: bool = False,
    label: str = "test",
) -> Tuple[float, float]:
    """Top-1 accuracy (%) and mean cross-entropy of ``model`` on ``loader``.

    ``model`` may be a plain network (returns logits) or a :class:`TappedModel`;
    ``progress`` shows a bar titled ``label``.
    """
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for images, labels in tqdm(loader, desc=label, leave=False, disable=not progress):
        images, labels = images.to(device), labels.to(device)
        out = model(images)
        logits = out.logits if not isinstance(out, Tensor) else out
        correct += (logits.argmax(1) == labels).sum()
        loss += F.cross_entropy(logits.float(), labels, reduction="sum").double()
        count += labels.numel()
    model.train(was_training)
    if count == 0:
        raise ValueError("the evaluation set is empty; check data.test_subset")
    return 100.0 * correct.item() / count, loss.item() / count


def evaluate_checkpoint(
    model: Optional[str],
    checkpoint: Union[str, os.PathLike[str]],
    dataset: Optional[str] = None,
    root: Optional[str] = None,
    batch_size: int = 256,
    subset: Optional[int] = None,
    device: str = "auto",
    progress: bool = False,
) -> float:
    """Top-1 test accuracy (%) of zoo model ``model`` with weights from ``checkpoint``
    (``model`` and ``dataset`` ``None``: those the file records, see
    :func:`~graphkd.engine.run_checkpoint.recorded_model`), built with the constructor
    options the file records (:func:`~graphkd.engine.run_checkpoint.recorded_options`)."""
    model, dataset, saved_dataset = _model_and_dataset(model, checkpoint, dataset, root)
    net = build_model(model, dataset, root, options=recorded_options(checkpoint))
    try:
        load_checkpoint(net, str(checkpoint))
    except ValueError:
        if saved_dataset is None or dataset == saved_dataset:
            raise
        raise ValueError(
            f"{checkpoint} holds a {model} trained on {saved_dataset} (the file records "
            f"it), which does not fit {dataset}'s images and classes; evaluate it on "
            f"{saved_dataset} (CLI: leave out --dataset)"
        ) from None
    target = resolve_device(device)
    tests = test_loader(dataset, root, batch_size, subset)
    accuracy, _ = evaluate(net.to(target), tests, target, progress, f"{model} test")
    return accuracy


def _model_and_dataset(
    model: Optional[str],
    checkpoint: Union[str, os.PathLike[str]],
    dataset: Optional[str],
    root: Optional[str],
) -> Tuple[str, str, Optional[str]]:
    """The network and dataset to evaluate (given, or recorded in ``checkpoint``) and the
    dataset the file records, after checking that they agree and can be read."""
    if model is not None:
        check_model(model)
    if dataset is not None:
        DATASETS.get(dataset)  # raises for an unknown name, listing the valid ones
    saved_model, saved_dataset = recorded_model(checkpoint)
    if model is not None and saved_model is not None and model != saved_model:
        raise ValueError(
            f"{checkpoint} holds a {saved_model} (the file records it), not a {model}; "
            f"give model {saved_model} (CLI: --model {saved_model}) or leave it out"
        )
    model, dataset = model or saved_model, dataset or saved_dataset
    for value, what in ((model, "model"), (dataset, "dataset")):
        if value is None:
            raise ValueError(
                f"{checkpoint} does not record its {what}; give it (CLI: --{what} NAME, "
                "see `graphkd list`)"
            )
    assert model is not None and dataset is not None
    if root is None and getattr(DATASETS.get(dataset), "describe", None) is not None:
        try:
            dataset_info(dataset)
        except FileNotFoundError:
            raise ValueError(
                f"{checkpoint} was trained on an {dataset} dataset, which is read from "
                f"its folder: give the folder holding train/ and val/ (CLI: --root FOLDER)"
            ) from None
    return model, dataset, saved_dataset
