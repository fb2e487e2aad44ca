"""The analysis report of a teacher ensemble and a student: measures, tables and figures."""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms
from tqdm.auto import tqdm

from graphkd.analysis.affinity import affinity
from graphkd.analysis.attention_iou import DEFAULT_THRESHOLD, attention_iou
from graphkd.analysis.cam import cam
from graphkd.analysis.fidelity import fidelity
from graphkd.analysis.figures import plot_cam_overlays, plot_knn_graph, plot_relations
from graphkd.analysis.mutual_information import mutual_information
from graphkd.analysis.train_val_gap import train_val_gap
from graphkd.data import STRENGTHS, create_dataset, dataset_info, ensemble_augmentation
from graphkd.engine.run_checkpoint import recorded_options
from graphkd.engine.trainer import build_model, resolve_device
from graphkd.models import TappedModel, load_checkpoint, tap

PathLike = Union[str, "os.PathLike[str]"]
_RELATION_SAMPLES = 32
_GRAPH_SAMPLES = 64


@dataclass
class AnalysisReport:
    """What :func:`write_report` measured and wrote.

    Parameters
    ----------
    output : pathlib.Path
        The report folder.
    measures : dict
        Every number of the report (also saved as ``report.json``).
    figures : list of pathlib.Path
        The PNG files written.
    """

    output: Path
    measures: Dict[str, Any] = field(default_factory=dict)
    figures: List[Path] = field(default_factory=list)

    @property
    def markdown(self) -> Path:
        """``<output>/report.md``."""
        return self.output / "report.md"


class _Progress:
    """``loader`` under a progress bar titled ``desc``, a fresh bar for every pass."""

    def __init__(self, loader: DataLoader, desc: str, enabled: bool) -> None:
        self.loader, self.desc, self.enabled = loader, desc, enabled

    def __iter__(self) -> Iterator[Any]:
        return iter(tqdm(self.loader, desc=self.desc, leave=False, disable=not self.enabled))

    def __len__(self) -> int:
        return len(self.loader)


class _Preprocessed:
    """A loader of raw ``uint8`` batches seen through ``preprocess`` (model-ready batches)."""

    def __init__(self, loader: Any, preprocess: Callable[[Tensor], Tensor]) -> None:
        self.loader = loader
        self.preprocess = preprocess

    def __iter__(self) -> Iterator[Tuple[Tensor, Tensor]]:
        for images, labels in self.loader:
            yield self.preprocess(images), labels


def _subset(data: Dataset, size: Optional[int], seed: int) -> Dataset:
    if size is None or size >= len(data):  # type: ignore[arg-type]
        return data
    if size < 1:
        raise ValueError(f"subset must be at least 1 image, got {size}")
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(data), generator=generator)[:size]  # type: ignore[arg-type]
    return Subset(data, chosen.tolist())


def _load(
    checkpoints: Sequence[PathLike],
    names: Sequence[str],
    dataset: str,
    root: Optional[PathLike],
    device: torch.device,
) -> List[TappedModel]:
    models = []
    for checkpoint, name in zip(checkpoints, names):
        options = recorded_options(checkpoint)
        folder = None if root is None else os.fspath(root)
        network = build_model(name, dataset, folder, options=options)
        try:
            load_checkpoint(network, os.fspath(checkpoint))
        except ValueError as error:
            raise ValueError(f"{os.fspath(checkpoint)} ({name}): {error}") from None
        model = tap(network).to(device).eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        models.append(model)
    return models


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


#: Significant digits of the floats in report.json (the measures are estimates on a sample).
JSON_DIGITS = 6


def _strict_json(value: Any) -> Any:
    """``value`` with NaN (an undefined measure) as ``None``, so the file is strict JSON,
    and floats to ``JSON_DIGITS`` significant digits (``29.0``, not ``28.999999999999996``)."""
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.{JSON_DIGITS}g}")
    return value


def _save(figure: Any, path: Path, figures: List[Path]) -> None:
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    figures.append(path)


def write_report(
    teachers: Sequence[PathLike],
    teacher_models: Sequence[str],
    student: PathLike,
    student_model: str,
    dataset: str,
    output: PathLike,
    subset: Optional[int] = None,
    root: Optional[PathLike] = None,
    batch_size: int = 64,
    device: str = "auto",
    cam_images: int = 4,
    knn: int = 5,
    seed: int = 0,
    progress: Optional[bool] = None,
) -> AnalysisReport:
    r"""Measure a teacher ensemble and a student; write ``report.md``, ``report.json``, PNGs.

    On the test split (the validation data) of ``dataset``:

    - accuracy of every model; :func:`fidelity` of the student to the ensemble (argmax of
      the mean logits) and to each teacher;
    - :func:`mutual_information` of top-1 predictions (per batch, averaged): student vs
      ensemble, student vs each teacher, between teachers;
    - :func:`attention_iou` of :func:`cam` maps (threshold 0.4) between teachers and
      between each teacher and the student;
    - :func:`affinity` of the weak and strong
      :func:`~graphkd.data.ensemble_augmentation` for every model;
    - :func:`train_val_gap` on the same number of training images (evaluation transform);
    - figures: ``cam_overlays.png`` (the first ``cam_images`` images),
      ``relations.png`` (:func:`prediction_relation` heatmaps on the first batch),
      ``knn_graph_teacher.png`` and ``knn_graph_student.png`` (kNN graphs of the first
      batch's embeddings drawn with networkx).

    Parameters
    ----------
    teachers : sequence of path
        The teachers' checkpoints (graphkd ``model.pt`` or community ``{"model": sd}``).
    teacher_models : sequence of str
        Their networks, one per checkpoint: zoo names, ``torchvision:...`` or ``timm:...``
        (see :func:`graphkd.models.create_network`).
    student : path
        The student's checkpoint.
    student_model : str
        Its network's name, as ``teacher_models``.
    dataset : str
        A name of :func:`graphkd.data.list_datasets`.
    output : path
        The report folder (created).
    subset : int, optional
        Use this many test images (and as many training images for the gap); default all.
    root : path, optional
        Data directory.
    batch_size : int, default 64
        Batch size of every pass; the first batch feeds the figures.
    device : str, default "auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    cam_images : int, default 4
        Images in the CAM figure.
    knn : int, default 5
        Neighbours per node of the drawn kNN graphs.
    seed : int, default 0
        Seeds the subset choice and the augmentations (the caller's random state is kept).
    progress : bool, optional
        A progress bar for every pass over the data (default: when stderr is a terminal).

    Returns
    -------
    AnalysisReport

    Raises
    ------
    ValueError
        Unknown names, checkpoints that do not fit their model, teacher and model lists of
        different lengths, empty data, or teachers and student with different class counts.

    Example
    -------
    >>> # write_report(["t1/model.pt", "t2/model.pt"], ["resnet32x4", "wrn_40_2"],
    >>> #              "s/model.pt", "resnet8x4", "cifar100", "report", subset=1000)
    """
    teachers, teacher_models = list(teachers), list(teacher_models)
    if not teachers:
        raise ValueError("no teacher checkpoint given; pass at least one")
    if len(teachers) != len(teacher_models):
        raise ValueError(
            f"{len(teachers)} teacher checkpoints but {len(teacher_models)} teacher model "
            "names; give one zoo model name per checkpoint"
        )
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 (the relation figures), got {batch_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _write(
            teachers,
            teacher_models,
            student,
            student_model,
            dataset,
            Path(output),
            subset,
            root,
            batch_size,
            resolve_device(device),
            cam_images,
            knn,
            seed,
            sys.stderr.isatty() if progress is None else progress,
        )


def _write(
    teachers: List[PathLike],
    teacher_models: List[str],
    student: PathLike,
    student_model: str,
    dataset: str,
    output: Path,
    subset: Optional[int],
    root: Optional[PathLike],
    batch_size: int,
    device: torch.device,
    cam_images: int,
    knn: int,
    seed: int,
    progress: bool,
) -> AnalysisReport:
    info = dataset_info(dataset, root)
    teacher_nets = _load(teachers, teacher_models, dataset, root, device)
    student_net = _load([student], [student_model], dataset, root, device)[0]
    names = [f"teacher {k + 1} ({m})" for k, m in enumerate(teacher_models)]
    student_name = f"student ({student_model})"
    models = dict(zip([*names, student_name], [*teacher_nets, student_net]))

    preprocess = transforms.Compose([transforms.ConvertImageDtype(torch.float32), info.normalize()])
    raw = transforms.PILToTensor()
    root_dir = None if root is None else os.fspath(root)
    val_set = _subset(create_dataset(dataset, root_dir, train=False, transform=raw), subset, seed)
    train_set = _subset(create_dataset(dataset, root_dir, train=True, transform=raw), subset, seed)
    val_raw = DataLoader(val_set, batch_size=batch_size, shuffle=False)
    train_raw = DataLoader(train_set, batch_size=batch_size, shuffle=False)
    if len(val_set) < 2 or len(train_set) < 2:  # type: ignore[arg-type]
        raise ValueError(
            f"the {dataset} data holds fewer than 2 images; check root and pass subset >= 2"
        )

    logits: Dict[str, List[Tensor]] = {name: [] for name in models}
    maps: Dict[str, List[Tensor]] = {name: [] for name in models}
    embeddings: Dict[str, Tensor] = {}
    labels: List[Tensor] = []
    first_images = torch.empty(0)
    with torch.no_grad():
        for images, targets in _Progress(val_raw, "outputs and CAMs", progress):
            inputs = preprocess(images).to(device)
            for name, model in models.items():
                responses = model(inputs)
                logits[name].append(responses.logits.float().cpu())
                maps[name].append(cam(model, inputs).cpu())
                if not labels:  # the first batch feeds the figures
                    embeddings[name] = responses.embedding.float().cpu()
            if not labels:
                first_images = images
            labels.append(targets)
    all_labels = torch.cat(labels)
    ensemble = [torch.stack(batch).mean(0) for batch in zip(*(logits[n] for n in names))]

    measures: Dict[str, Any] = {"dataset": dataset, "images": int(all_labels.numel())}
    measures["accuracy"] = {
        name: 100.0 * float((torch.cat(z).argmax(1) == all_labels).double().mean())
        for name, z in logits.items()
    }
    student_logits = torch.cat(logits[student_name])
    # fidelity also checks that teachers and student share one number of classes
    measures["fidelity"] = {"ensemble": asdict(fidelity(student_logits, torch.cat(ensemble)))}
    for name in names:
        measures["fidelity"][name] = asdict(fidelity(student_logits, torch.cat(logits[name])))

    num_classes = student_logits.shape[1]
    pairs = list(itertools.combinations(names, 2))
    pairs += [(name, student_name) for name in names]
    measures["mutual_information"] = {
        f"ensemble vs {student_name}": mutual_information(
            ensemble, logits[student_name], num_classes
        )
    }
    measures["attention_iou"] = {}
    for a, b in pairs:
        key = f"{a} vs {b}"
        measures["mutual_information"][key] = mutual_information(logits[a], logits[b], num_classes)
        measures["attention_iou"][key] = attention_iou(maps[a], maps[b], DEFAULT_THRESHOLD)

    measures["affinity"] = {}
    for name, model in models.items():
        measures["affinity"][name] = {}
        for strength in STRENGTHS:
            augmentation = ensemble_augmentation(strength, info.image_size)
            try:
                passes = _Progress(val_raw, f"affinity, {strength}, {name}", progress)
                value = affinity(model, augmentation, passes, preprocess=preprocess)
            except ValueError:  # no lightly augmented image right: the ratio is undefined
                value = float("nan")
            measures["affinity"][name][strength] = value
    measures["train_val_gap"] = {}
    for name, model in models.items():
        train_loader = _Preprocessed(
            _Progress(train_raw, f"training accuracy, {name}", progress), preprocess
        )
        val_loader = _Preprocessed(
            _Progress(val_raw, f"test accuracy, {name}", progress), preprocess
        )
        measures["train_val_gap"][name] = asdict(train_val_gap(model, train_loader, val_loader))

    output.mkdir(parents=True, exist_ok=True)
    figures: List[Path] = []
    shown = max(1, min(cam_images, first_images.shape[0]))
    overlays = {name: maps[name][0][:shown] for name in models}
    _save(plot_cam_overlays(first_images[:shown], overlays), output / "cam_overlays.png", figures)
    first_labels = labels[0]
    few = min(_RELATION_SAMPLES, first_labels.shape[0])
    relation_logits = {name: logits[name][0][:few] for name in models}
    if len(names) > 1:
        relation_logits = {**relation_logits, "ensemble": ensemble[0][:few]}
    reference = "ensemble" if len(names) > 1 else names[0]
    figure = plot_relations(relation_logits, first_labels[:few], (reference, student_name))
    _save(figure, output / "relations.png", figures)
    many = min(_GRAPH_SAMPLES, first_labels.shape[0])
    k = max(1, min(knn, many - 1))
    for role, name in (("teacher", names[0]), ("student", student_name)):
        figure = plot_knn_graph(
            embeddings[name][:many], first_labels[:many], k, f"{k}-NN graph, {name}"
        )
        _save(figure, output / f"knn_graph_{role}.png", figures)

    (output / "report.json").write_text(json.dumps(_strict_json(measures), indent=2) + "\n")
    (output / "report.md").write_text(_markdown(measures, names, student_name, figures))
    return AnalysisReport(output=output, measures=measures, figures=figures)


def _markdown(
    measures: Dict[str, Any], names: List[str], student_name: str, figures: List[Path]
) -> str:
    fid = measures["fidelity"]
    gap = measures["train_val_gap"]
    sections = [
        f"# {'Ensemble' if len(names) > 1 else 'Distillation'} analysis: "
        f"{', '.join(names)} -> {student_name}",
        f"{measures['images']} test images of `{measures['dataset']}`.",
        "## Accuracy and generalisation gap (top-1, %)",
        _table(
            ["model", "test acc", "train acc", "val acc", "gap"],
            [
                [n, measures["accuracy"][n], gap[n]["train_acc"], gap[n]["val_acc"], gap[n]["gap"]]
                for n in measures["accuracy"]
            ],
            digits=2,
        ),
        "## Fidelity of the student",
        "Top-1 agreement and KL(p_s || softmax(mean teacher logits)) at T = 1 "
        "(x10: the reference's scale).",
        _table(
            ["teacher", "agreement", "KL", "KL x10"],
            [[k, v["agreement"], v["kl"], v["kl_scaled"]] for k, v in fid.items()],
        ),
        "## Mutual information of top-1 predictions (nats, per batch, averaged)",
        _table(["pair", "MI"], [[k, v] for k, v in measures["mutual_information"].items()]),
        f"## Attention IoU of CAM maps (threshold {DEFAULT_THRESHOLD})",
        _table(["pair", "IoU"], [[k, v] for k, v in measures["attention_iou"].items()]),
        "## Affinity of the augmentations",
        "Accuracy on augmented / on random-resized-crop validation images (n/a: no light-"
        "crop image classified right).",
        _table(
            ["model", *STRENGTHS],
            [[n, *(v[s] for s in STRENGTHS)] for n, v in measures["affinity"].items()],
        ),
        "## Figures",
        *[f"![{path.stem}]({path.name})" for path in figures],
    ]
    return "\n\n".join(sections) + "\n"
