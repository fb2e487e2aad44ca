"""The ``graphkd`` command: train teachers, distil, evaluate, analyze, list, quickstart.

Example
-------
>>> from graphkd.cli import main
>>> main(["list"])  # doctest: +ELLIPSIS
methods: ...
0
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from graphkd.analysis import write_report
from graphkd.data import list_datasets
from graphkd.distill import list_methods
from graphkd.engine.config import apply_overrides, config_target, load_config, shipped_configs
from graphkd.engine.quickstart import QUICKSTART_METHOD, quickstart
from graphkd.engine.trainer import CROSS_ENTROPY, Trainer
from graphkd.models import list_models


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphkd", description="Graph-based knowledge distillation on DGL and PyTorch."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config",
            required=True,
            help=f"YAML file or shipped config ({', '.join(shipped_configs())})",
        )
        sub.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config key, e.g. --set optim.lr=0.01 (repeatable)",
        )
        sub.add_argument(
            "--resume",
            nargs="?",
            const=True,
            default=False,
            metavar="CHECKPOINT",
            help="continue from <run>/last.pt, or from the checkpoint given",
        )

    teacher = commands.add_parser("train-teacher", help="train the config's teacher")
    with_config(teacher)
    distill = commands.add_parser("distill", help="distil the teacher into the student")
    with_config(distill)
    distill.add_argument(
        "--method",
        default=None,
        help=f"{CROSS_ENTROPY} or one of: {', '.join(list_methods())} (default: the config's "
        "method.name)",
    )

    evaluate = commands.add_parser("evaluate", help="top-1 test accuracy of a checkpoint")
    evaluate.add_argument(
        "--model",
        required=True,
        help="network: a zoo name (see `graphkd list`), torchvision:... or timm:...",
    )
    evaluate.add_argument("--checkpoint", required=True, help="model.pt, last.pt or a state dict")
    evaluate.add_argument("--dataset", required=True, help="dataset name (see `graphkd list`)")
    evaluate.add_argument("--root", default=None, help="data directory")
    evaluate.add_argument("--batch-size", type=int, default=256)
    evaluate.add_argument("--subset", type=int, default=None, help="evaluate on N test images")
    evaluate.add_argument("--device", default="auto")

    analyze = commands.add_parser(
        "analyze", help="report on a teacher ensemble and a student: fidelity, MI, CAM, figures"
    )
    analyze.add_argument(
        "--teachers", required=True, metavar="CKPT[,CKPT...]", help="teacher checkpoints"
    )
    analyze.add_argument(
        "--teacher-models", required=True, metavar="NAME[,NAME...]", help="their zoo models"
    )
    analyze.add_argument("--student", required=True, metavar="CKPT", help="student checkpoint")
    analyze.add_argument("--student-model", required=True, help="the student's zoo model")
    analyze.add_argument("--dataset", required=True, help="dataset name (see `graphkd list`)")
    analyze.add_argument("--output", required=True, help="report folder")
    analyze.add_argument("--subset", type=int, default=None, help="use N test images")
    analyze.add_argument("--root", default=None, help="data directory")
    analyze.add_argument("--batch-size", type=int, default=64)
    analyze.add_argument("--cam-images", type=int, default=4, help="images in the CAM figure")
    analyze.add_argument("--device", default="auto")
    analyze.add_argument("--seed", type=int, default=0)

    commands.add_parser(
        "list", help="methods, models, datasets, shipped configs and recipes with their targets"
    )

    quick = commands.add_parser(
        "quickstart",
        help="Fashion-MNIST: teacher, graph-distilled student and cross-entropy student",
    )
    quick.add_argument("--output", default="runs/quickstart", help="experiment directory")
    quick.add_argument("--method", default=QUICKSTART_METHOD, help="the distillation method")
    quick.add_argument("--epochs", type=int, default=None, help="epochs of every run")
    quick.add_argument(
        "--limit-batches", type=int, default=None, help="training batches per epoch (smoke runs)"
    )
    quick.add_argument("--subset", type=int, default=None, help="training images used")
    quick.add_argument("--test-subset", type=int, default=None, help="test images used")
    quick.add_argument("--device", default=None, help="auto, cpu, cuda, ...")
    quick.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser


def _check_name(kind: str, name: str, valid: List[str]) -> None:
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(valid)}")


def _report(line: str) -> None:
    # under torchrun only rank 0 reports: the other ranks neither evaluate nor write files
    if os.environ.get("RANK", "0") == "0":
        print(line)


def _split(value: str) -> List[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _analyze(args: argparse.Namespace) -> int:
    teacher_models = _split(args.teacher_models)
    for name in [*teacher_models, args.student_model]:
        _check_name("model", name, list_models())
    _check_name("dataset", args.dataset, list_datasets())
    report = write_report(
        _split(args.teachers),
        teacher_models,
        args.student,
        args.student_model,
        args.dataset,
        args.output,
        subset=args.subset,
        root=args.root,
        batch_size=args.batch_size,
        device=args.device,
        cam_images=args.cam_images,
        seed=args.seed,
    )
    print(f"report: {report.markdown} ({len(report.figures)} figures)")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "analyze":
        return _analyze(args)
    if args.command == "list":
        print("methods: " + ", ".join([CROSS_ENTROPY, *list_methods()]))
        print("models: " + ", ".join(list_models()))
        print("datasets: " + ", ".join(list_datasets()))
        print("configs: " + ", ".join(shipped_configs()))
        targets = {name: config_target(name) for name in shipped_configs()}
        print("recipes (the published top-1 each should reach):")
        for name, target in targets.items():
            if target:
                print(f"  {name}: {target}")
        return 0
    trainer = Trainer()
    if args.command == "train-teacher":
        result = trainer.train_teacher(load_config(args.config, args.overrides), args.resume)
        _report(f"teacher: {result.test_acc:.2f}% top-1; weights {result.model_path}")
        return 0
    if args.command == "distill":
        config = load_config(args.config)
        method = config.method.name if args.method is None else args.method
        _check_name("method", method, [CROSS_ENTROPY, *list_methods()])
        if config.method.name != method:  # the file's options belong to its method
            config = apply_overrides(config, [f"method.name={method}", "method.options={}"])
        config = apply_overrides(config, args.overrides)
        result = trainer.distill(config, resume=args.resume)
        _report(f"student ({method}): {result.test_acc:.2f}% top-1; run {result.output}")
        return 0
    if args.command == "evaluate":
        _check_name("dataset", args.dataset, list_datasets())
        accuracy = trainer.evaluate(
            args.model,
            args.checkpoint,
            args.dataset,
            args.root,
            args.batch_size,
            args.subset,
            args.device,
        )
        print(f"{args.model} on {args.dataset}: {accuracy:.2f}% top-1")
        return 0
    _check_name("method", args.method, [CROSS_ENTROPY, *list_methods()])
    overrides = list(args.overrides)
    for key, value in (
        ("optim.epochs", args.epochs),
        ("data.limit_batches", args.limit_batches),
        ("data.subset", args.subset),
        ("data.test_subset", args.test_subset),
        ("run.device", args.device),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.epochs is not None:
        overrides.append(f"optim.milestones=[{max(1, args.epochs - 1)}]")
    result = quickstart(args.output, args.method, overrides)
    print(result.summary())
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``graphkd`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 on bad input (the message says what to fix).
    """
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"graphkd {args.command}: error: {error}", file=sys.stderr)
        return 2
