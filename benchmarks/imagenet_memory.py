"""Memory of each ImageNet recipe's distillation loss at ImageNet shapes, on the CPU.

Shapes of one GPU's share of the recipes: B = 256 images per process, C = 1000 classes,
embeddings of width 512 (ResNet34 -> ResNet18) and, for HKD, N = 1,281,167 training
samples with K = 16,384 negatives each. For every method this runs one forward and
backward pass of the loss alone on random responses and reports

- saved: the bytes autograd keeps for the backward pass (``saved_tensors_hooks``;
  storages counted once), the loss's share of a step's peak memory on any device;
- resident: the method's buffers that live for the whole run (HKD's two memory banks).

For scale, the same measurement of the student networks at 224 x 224 pixels (torchvision
ResNet18 and MobileNetV2), taken at B = 16 and multiplied by 16 (activations grow
linearly with the batch), closes the table.

Run ``python benchmarks/imagenet_memory.py --out benchmarks/results/imagenet_memory.md``;
the table is copied into docs/imagenet.rst.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

import torch
import torchvision

import graphkd
from graphkd import Responses

MIB = 2**20
CLASSES = 1000
WIDTH = 512
IMAGENET_TRAIN = 1_281_167
NEGATIVES = 16_384
BACKBONE_BATCH = 16


class Row(NamedTuple):
    method: str
    setting: str
    batch: int
    saved: int
    resident: int


def saved_bytes(step: Callable[[], torch.Tensor], exclude: List[torch.Tensor]) -> int:
    """Bytes of the distinct storages autograd saves while ``step()`` builds its loss,
    leaving out the storages of ``exclude`` (resident buffers)."""
    resident = {t.untyped_storage().data_ptr() for t in exclude}
    saved: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in resident:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = step()
    loss.backward()
    return sum(saved.values())


def responses(batch: int, grad: bool, index: Optional[torch.Tensor] = None) -> Responses:
    def tensor(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, requires_grad=grad)

    virtual = Responses(tensor(batch, CLASSES), tensor(batch, WIDTH))
    return Responses(
        tensor(batch, CLASSES),
        tensor(batch, WIDTH),
        virtual=virtual,
        labels=torch.randint(0, CLASSES, (batch,)),
        index=index,
    )


def loss_row(method: str, setting: str, batch: int, **options) -> Row:
    labels = torch.arange(IMAGENET_TRAIN) % CLASSES
    known = {
        "num_classes": CLASSES,
        "teacher_dim": WIDTH,
        "student_dim": WIDTH,
        "labels": labels,
        "num_samples": IMAGENET_TRAIN,
    }
    arguments = graphkd.distill.method_arguments(method, known)
    distiller = graphkd.create_method(method, **{**arguments, **options})
    index = torch.randperm(IMAGENET_TRAIN)[:batch]
    teacher, student = responses(batch, False, index), responses(batch, True, index)
    if not getattr(distiller, "needs_virtual_view", False):
        teacher = dataclasses.replace(teacher, virtual=None)
        student = dataclasses.replace(student, virtual=None)
    buffers = list(distiller.buffers())
    saved = saved_bytes(lambda: distiller(teacher, student)["loss"], buffers)
    resident = sum(b.numel() * b.element_size() for b in buffers)
    return Row(method, setting, batch, saved, resident)


def backbone_row(name: str) -> Row:
    network = torchvision.models.get_model(name, weights=None, num_classes=CLASSES)
    images = torch.randn(BACKBONE_BATCH, 3, 224, 224)
    saved = saved_bytes(lambda: network(images).sum(), [])
    scale = 256 // BACKBONE_BATCH
    return Row(f"student {name}", f"224 px, B = {BACKBONE_BATCH} x {scale}", 256, saved * scale, 0)


def rows(backbones: bool) -> List[Row]:
    table = [
        loss_row("kd", "T = 1", 256, temperature=1.0),
        loss_row("dist", "T = 1", 256, temperature=1.0),
        loss_row("lskd", "T = 1", 256, temperature=1.0),
        loss_row("vrm", "Gram path", 256),
        loss_row("vrm", "Gram path", 64),
        loss_row("vrm", "explicit edges", 64, path="explicit"),
        loss_row("hkd_kd", "banks float32", 256),
        loss_row("hkd_kd", "banks float16", 256, bank_dtype="float16"),
    ]
    if backbones:
        table += [backbone_row("resnet18"), backbone_row("mobilenet_v2")]
    return table


def render(table: List[Row]) -> str:
    lines = [
        f"CPU, torch {torch.__version__}; C = {CLASSES}, embeddings {WIDTH} wide; HKD: "
        f"N = {IMAGENET_TRAIN:,}, K = {NEGATIVES:,}. saved = bytes autograd keeps for "
        "backward; resident = buffers kept for the whole run (per process).",
        "",
        "| method | setting | B | saved MiB | resident MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in table:
        lines.append(
            f"| {row.method} | {row.setting} | {row.batch} | {row.saved / MIB:.1f} "
            f"| {row.resident / MIB:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-backbones", action="store_true", help="skip the student rows")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    text = render(rows(not args.no_backbones))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
