"""Which ISV edges VRM's pruning drops in a trained run: the samples the student gets wrong?

VRM drops, every step, the ``drop_fraction`` of the ISV edges (real sample ``i``, virtual
sample ``j``) with the highest joint entropy ``H(p_i) + H(p~_j)`` of the *student's*
predictions (:meth:`graphkd.distill.presets.vrm.RealVirtualGraphs.keep`). An edge is
dropped because the student is unsure of one of its ends, so the question is whom the
pruning silences: for each finished run folder (its ``config.yaml`` and ``model.pt``) the
script passes the run's training subset, in batches of its ``data.batch_size`` with its
two views (the training transform; crop, flip and RandAugment for the virtual view),
through the trained student and the run's teacher, applies the pruning rule with the
run's ``drop_fraction`` and counts, over all edges:

- ``wrong | dropped`` and ``wrong | kept``: the share of edges whose real sample the
  student misclassifies, among the dropped and among the kept edges;
- ``errors' edges dropped``: the share of the edges of misclassified real samples that
  are dropped (the overall share dropped is ``drop_fraction``);
- ``teacher right | wrong, dropped``: among the dropped edges of misclassified samples,
  the share whose sample the teacher classifies correctly: edges where the teacher's
  relations would have corrected the student.

Example (the trained student of a pruned protocol run, seed 0)::

    python benchmarks/vrm_pruning.py \\
        benchmarks/results/fashion_mnist_protocol_vrm_pruning/seed0/vrm
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, List, Optional

import run
import torch
from torch import Tensor


@dataclass
class EdgeCounts:
    """Edge counts over batches (see the module docstring for what each share means)."""

    dropped: int = 0
    kept: int = 0
    wrong_dropped: int = 0
    wrong_kept: int = 0
    teacher_right_wrong_dropped: int = 0

    def __iadd__(self, other: EdgeCounts) -> EdgeCounts:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
        return self

    def shares(self) -> List[float]:
        """``wrong | dropped``, ``wrong | kept``, ``errors' edges dropped``,
        ``teacher right | wrong, dropped`` (``nan`` where a count is 0)."""
        wrong = self.wrong_dropped + self.wrong_kept
        return [
            _share(self.wrong_dropped, self.dropped),
            _share(self.wrong_kept, self.kept),
            _share(self.wrong_dropped, wrong),
            _share(self.teacher_right_wrong_dropped, self.wrong_dropped),
        ]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def count_edges(
    student_real: Tensor,
    student_virtual: Tensor,
    teacher_real: Tensor,
    labels: Tensor,
    drop_fraction: float,
) -> EdgeCounts:
    """Counts of one batch: ``(B, C)`` logits of the student's two views and the teacher's
    real view, ``(B,)`` labels; the keep mask is VRM's own
    (:meth:`RealVirtualGraphs.keep`), rows real samples, columns virtual ones."""
    from graphkd import Responses
    from graphkd.distill.presets.vrm import RealVirtualGraphs

    pruning = RealVirtualGraphs(drop_fraction=drop_fraction)
    keep = pruning.keep(Responses(student_real, virtual=Responses(student_virtual)))
    wrong = (student_real.argmax(1) != labels)[:, None].expand_as(keep)
    teacher_right = (teacher_real.argmax(1) == labels)[:, None].expand_as(keep)
    return EdgeCounts(
        dropped=int((~keep).sum()),
        kept=int(keep.sum()),
        wrong_dropped=int((wrong & ~keep).sum()),
        wrong_kept=int((wrong & keep).sum()),
        teacher_right_wrong_dropped=int((teacher_right & wrong & ~keep).sum()),
    )


def audit(folder: Path, seed: int = 0) -> EdgeCounts:
    """The counts of the run in ``folder`` over its training subset (one pass, views
    drawn with ``seed``)."""
    from graphkd.distill.presets.vrm import VRMDistiller
    from graphkd.engine import load_config
    from graphkd.engine.method_setup import two_view_transform
    from graphkd.engine.run_data import data_info, training_set
    from graphkd.engine.run_models import build_model, network_options
    from graphkd.models import load_checkpoint

    config = load_config(folder / "config.yaml")
    default = inspect.signature(VRMDistiller).parameters["drop_fraction"].default
    drop_fraction = config.method.options.get("drop_fraction", default)
    networks = []
    for name, checkpoint in (
        (config.model.student, folder / "model.pt"),
        # the runner records paths relative to the repository (run.relative)
        (config.model.teacher, run.REPOSITORY / config.model.teacher_checkpoint),
    ):
        network = build_model(
            name,
            config.data.dataset,
            config.data.root,
            config.data.image_size,
            network_options(config.model, name),
        )
        load_checkpoint(network, str(checkpoint))
        networks.append(network.eval())
    student, teacher = networks
    torch.manual_seed(seed)
    views = two_view_transform(data_info(config.data))
    data = training_set(config.data, config.run.seed, transform=views)
    loader = torch.utils.data.DataLoader(data, batch_size=config.data.batch_size, drop_last=True)
    counts = EdgeCounts()
    with torch.no_grad():
        for (real, virtual), labels in loader:
            counts += count_edges(
                student(real), student(virtual), teacher(real), labels, drop_fraction
            )
    return counts


def table(folders: Iterable[Path], counts: Iterable[EdgeCounts]) -> str:
    """Markdown: one line per run, the four shares in percent."""
    lines = [
        "| run | wrong, dropped | wrong, kept | errors' edges dropped "
        "| teacher right, of wrong dropped |",
        "| --- | --- | --- | --- | --- |",
    ]
    for folder, count in zip(folders, counts):
        cells = " | ".join(f"{100 * share:.1f}%" for share in count.shares())
        lines.append(f"| {folder} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="finished vrm run folders")
    parser.add_argument("--out", type=Path, help="write the table here")
    args = parser.parse_args(argv)
    missing = [
        f"no {name} in {folder}"
        for folder in args.runs
        for name in ("model.pt", "config.yaml")
        if not (folder / name).exists()
    ]
    if missing:
        parser.error(
            f"{'; '.join(missing)}: give the folders of finished runs "
            "(benchmarks/results/<output>/seed<s>/vrm), on the machine that trained them"
        )
    text = table(args.runs, [audit(folder) for folder in args.runs])
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
