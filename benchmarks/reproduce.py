"""Reproduce the papers' CIFAR-100 numbers: each shipped recipe with the community's teacher.

A recipe is a shipped config ``cifar100_<method>_<teacher>_<student>.yaml`` whose header
holds the paper's number on a line ``# target: <label> <top-1> top-1 on CIFAR-100
(<source>)``. For each recipe (all of them, or those named with ``--only``) the
script distils the student from the released pretrained teacher (see
:mod:`cifar_teachers`: downloaded once into ``--cache`` and checksum-verified, or read
from ``--teachers``) into ``<output>/<recipe>/<method>`` and prints the measured top-1
(last epoch; best epoch beside it, labelled) next to the paper's. Finished runs are
skipped and interrupted ones resume, so rerunning the command continues the suite.

Example::

    python benchmarks/reproduce.py --dry-run           # what it would download and train
    python benchmarks/reproduce.py --only cifar100_dist_resnet32x4_resnet8x4

``--dry-run`` also says where CIFAR-100 is read from (or that the first run downloads it)
and whether each download it needs can be reached. A problem (offline, a damaged
archive) ends the script with one line ``reproduce.py: error: ...`` and status 2.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import cifar_teachers

TARGET = re.compile(r"^#\s*target:\s*(?P<label>.+?)\s+(?P<top1>\d+(?:\.\d+)?)\s+top-1", re.M)
RECIPE_NAME = re.compile(r"^cifar100_.+\.yaml$")


@dataclass(frozen=True)
class Recipe:
    """A shipped CIFAR-100 recipe and the paper's number it targets."""

    name: str
    path: Path
    method: str
    teacher: str
    student: str
    label: str
    paper_top1: float
    epochs: int


def shipped_config_dir() -> Path:
    """The folder of graphkd's shipped configs."""
    import graphkd

    return Path(graphkd.__file__).parent / "configs"


def discover(folder: Path) -> List[Recipe]:
    """Every ``cifar100_*.yaml`` in ``folder`` with a ``# target:`` line, by name."""
    import yaml

    recipes = []
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text()
        target = TARGET.search(text)
        if not RECIPE_NAME.match(path.name) or target is None:
            continue
        config = yaml.safe_load(text)
        recipes.append(
            Recipe(
                name=path.stem,
                path=path,
                method=config["method"]["name"],
                teacher=config["model"]["teacher"],
                student=config["model"]["student"],
                label=target["label"],
                paper_top1=float(target["top1"]),
                epochs=int(config["optim"]["epochs"]),
            )
        )
    return recipes


def last_and_best(folder: Path) -> Optional[tuple]:
    """(last-epoch, best-epoch) top-1 of a finished run, ``None`` when unfinished."""
    if not (folder / "model.pt").is_file():
        return None
    with open(folder / "metrics.csv", newline="") as handle:
        accuracies = [float(row["test_acc"]) for row in csv.DictReader(handle)]
    return accuracies[-1], max(accuracies)


def table(recipes: List[Recipe], output: Path) -> str:
    """Paper against measured top-1, one row per recipe."""
    lines = [
        "| recipe | method | teacher -> student | paper top-1 | measured, last epoch "
        "| measured, best epoch | last - paper |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for recipe in recipes:
        result = last_and_best(output / recipe.name / recipe.method)
        measured = (
            ["not run", "", ""]
            if result is None
            else [
                f"{result[0]:.2f}",
                f"{result[1]:.2f}",
                f"{result[0] - recipe.paper_top1:+.2f}",
            ]
        )
        lines.append(
            f"| {recipe.name} | {recipe.label} | {recipe.teacher} -> {recipe.student} "
            f"| {recipe.paper_top1:.2f} | " + " | ".join(measured) + " |"
        )
    return "\n".join(lines) + "\n"


def parser_for(recipes: List[Recipe]) -> argparse.ArgumentParser:
    listing = "\n".join(
        f"  {r.name}: {r.label}, {r.teacher} -> {r.student}, paper {r.paper_top1:.2f}"
        for r in recipes
    )
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"pairs ({len(recipes)} recipes):\n{listing or '  none found'}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--recipes", type=Path, help="folder of recipe YAMLs (default: shipped)")
    parser.add_argument("--only", nargs="+", metavar="RECIPE", help="run these recipes only")
    parser.add_argument("--output", type=Path, default=Path("runs/reproduce"))
    parser.add_argument(
        "--cache", type=Path, default=cifar_teachers.DEFAULT_CACHE, help="teacher cache folder"
    )
    parser.add_argument(
        "--teachers", type=Path, help="a local cifar_teachers.tar, or a folder of its contents"
    )
    parser.add_argument("--sha256", help="required SHA-256 of the teacher archive")
    parser.add_argument("--url", default=cifar_teachers.ARCHIVE_URL, help="archive URL")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be downloaded and trained"
    )
    return parser


def unreachable(url: str, timeout: float = 5.0) -> Optional[str]:
    """Why ``url`` cannot be fetched now (offline, refused, missing), or ``None``."""
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except Exception as error:  # urllib, http and socket errors alike
        return str(getattr(error, "reason", None) or error)


def data_plan(recipes: List[Recipe], overrides: List[str]) -> List[str]:
    """Where each recipe's CIFAR-100 is read from, or that the first run downloads it."""
    from graphkd.data import CIFAR100
    from graphkd.data.paths import resolve_root
    from graphkd.engine import load_config

    lines = []
    for root in sorted({load_config(r.path, overrides).data.root or "" for r in recipes}):
        found = CIFAR100.find_files(root or None, train=True)
        found = found and CIFAR100.find_files(root or None, train=False)
        folder = resolve_root(root or None)
        if found:
            lines.append(f"CIFAR-100: read from {folder / CIFAR100.base_folder}")
            continue
        line = f"CIFAR-100: not in {folder}; the first run downloads it ({CIFAR100.url}, 169 MB)"
        reason = unreachable(CIFAR100.url)
        if reason is not None:
            line += (
                f" but it cannot be reached ({reason}): offline, extract "
                f"cifar-100-python.tar.gz into {folder} or --set data.root=<its folder>"
            )
        lines.append(line)
    return lines


def run(command: List[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    subprocess.run([sys.executable, "-m", "graphkd", *command], check=True)


def main(argv: Optional[List[str]] = None) -> None:
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--recipes", type=Path)
    known, _ = early.parse_known_args(argv)
    recipes = discover(known.recipes or shipped_config_dir())
    parser = parser_for(recipes)
    args = parser.parse_args(argv)
    by_name = {r.name: r for r in recipes}
    unknown = sorted(set(args.only or []) - set(by_name))
    if unknown:
        parser.error(f"unknown recipes {', '.join(unknown)}; see --help for the list")
    chosen = [by_name[n] for n in args.only] if args.only else recipes
    if not chosen:
        parser.error("no recipe found: the folder holds no cifar100_*.yaml with a '# target:'")
    output = args.output.resolve()
    try:
        text = _run_suite(args, chosen, output)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"{parser.prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as error:
        print(
            f"{parser.prog}: error: `graphkd {' '.join(error.cmd[3:6])} ...` ended with status "
            f"{error.returncode} (its message is above); rerun to continue the suite",
            file=sys.stderr,
        )
        sys.exit(2)
    print(text)


def _run_suite(args: argparse.Namespace, chosen: List[Recipe], output: Path) -> str:
    """Train (or with ``--dry-run`` describe) every chosen recipe; the results table."""
    if args.dry_run:
        for line in data_plan(chosen, args.overrides):
            print(line)
    offline: Dict[str, Optional[str]] = {}
    for recipe in chosen:
        folder = output / recipe.name
        if last_and_best(folder / recipe.method) is not None:
            print(f"= {recipe.name} is finished, skipped", flush=True)
            continue
        teacher = args.cache / f"{recipe.teacher}.pt"
        if args.dry_run:
            if not teacher.is_file():
                where = args.teachers or args.cache / cifar_teachers.ARCHIVE_NAME
                fetch = "" if args.teachers or where.is_file() else f" (download {args.url})"
                print(f"would prepare teacher {teacher} from {where}{fetch}")
                if fetch and args.url not in offline:
                    offline[args.url] = unreachable(args.url)
                    if offline[args.url] is not None:
                        print(
                            f"offline: {args.url} cannot be reached ({offline[args.url]}); "
                            f"download it elsewhere and put it at {where}, or pass --teachers"
                        )
            print(
                f"would train {recipe.name}: {recipe.method}, {recipe.teacher} -> "
                f"{recipe.student}, {recipe.epochs} epochs, into {folder / recipe.method}"
            )
            continue
        teacher = cifar_teachers.prepare_teacher(
            recipe.teacher, args.cache, args.teachers, args.sha256, args.url
        )
        resume = ["--resume"] if (folder / recipe.method).is_dir() else []
        overrides = [
            *args.overrides,
            f"model.teacher_checkpoint={teacher}",
            f"run.output={folder}",
        ]
        run(
            ["distill", "--config", str(recipe.path), "--method", recipe.method, *resume]
            + [f"--set={o}" for o in overrides]
        )
    text = table(chosen, output)
    if not args.dry_run:
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.md").write_text(text)
    return text


if __name__ == "__main__":
    main()
