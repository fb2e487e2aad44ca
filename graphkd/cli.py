"""The ``graphkd`` command: train teachers, distil, evaluate, analyze, graph, list, configs,
quickstart.

Arguments are parsed before anything heavy is imported, so ``graphkd --help`` and
``graphkd --version`` answer at once. A user's mistake (an unknown name, a bad value, a
missing file, a run directory that already holds a run) ends the command with one line
``graphkd: error: <problem>; <fix>`` on stderr and exit status 2; anything else is a bug
and keeps its traceback.

Example
-------
>>> from graphkd.cli import main
>>> main(["list"])  # doctest: +ELLIPSIS
methods: ...
0
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, List, Optional

from graphkd._version import __version__

#: The command's name in messages.
PROG = "graphkd"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only where it tells something: not for required options,
    flags, unset (``None``) or empty defaults, nor when the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == []
        if action.required or unset or "default" in text:
            return text
        return super()._get_help_string(action) or text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Graph-based knowledge distillation on DGL and PyTorch.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            formatter_class=_HelpFormatter,
        )

    def with_config(sub: argparse.ArgumentParser, resumable: bool = True) -> None:
        sub.add_argument(
            "--config",
            required=True,
            help="a YAML file or a shipped config's name (see `graphkd list`)",
        )
        sub.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config key, e.g. --set optim.lr=0.01 (repeatable; see "
            "`graphkd config show NAME` for every key)",
        )
        if resumable:
            sub.add_argument(
                "--resume",
                nargs="?",
                const=True,
                default=False,
                metavar="CHECKPOINT",
                help="continue the run from <run>/last.pt, or from the checkpoint given",
            )
            sub.add_argument(
                "--overwrite",
                action="store_true",
                help="start again in a run directory that already holds a run (its records "
                "are replaced once the first epoch has finished)",
            )
            with_shortcuts(sub)
        with_imports(sub)

    def with_shortcuts(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--epochs",
            type=int,
            default=None,
            help="train N epochs (optim.epochs; the learning-rate milestones and warm-up scale "
            "with it, and so do a method's stage epochs, e.g. method.options.stage1_epochs, to "
            "at most N)",
        )
        sub.add_argument("--subset", type=int, default=None, help="training images used")
        sub.add_argument("--test-subset", type=int, default=None, help="test images used")
        sub.add_argument(
            "--limit-batches", type=int, default=None, help="training batches per epoch"
        )
        sub.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1, ...")

    def with_imports(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--import",
            dest="imports",
            action="append",
            default=[],
            metavar="MODULE",
            help="import MODULE first (it may register methods with "
            "graphkd.distill.METHODS.register; repeatable)",
        )

    teacher = command("train-teacher", "train the config's teacher with cross-entropy")
    with_config(teacher)
    distill = command("distill", "distil the trained teacher into the config's student")
    with_config(distill)
    distill.add_argument(
        "--method",
        default=None,
        help="ce, a method of `graphkd list`, or module:factory for a method of your own "
        "(default: the config's method.name)",
    )
    distill.add_argument(
        "--allow-method-change",
        action="store_true",
        help="with --resume: accept a checkpoint of another method's run",
    )

    evaluate = command("evaluate", "top-1 test accuracy of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help="model.pt, last.pt or a state dict")
    evaluate.add_argument(
        "--model",
        default=None,
        help="network: a zoo name (see `graphkd list`), torchvision:... or timm:... "
        "(default: the one model.pt records)",
    )
    evaluate.add_argument(
        "--dataset", default=None, help="dataset name (default: the one model.pt records)"
    )
    evaluate.add_argument("--root", default=None, help="data directory")
    evaluate.add_argument("--batch-size", type=int, default=256, help="evaluation batch size")
    evaluate.add_argument("--subset", type=int, default=None, help="evaluate on N test images")
    evaluate.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")

    analyze = command(
        "analyze", "report on a teacher ensemble and a student: fidelity, MI, CAM, figures"
    )
    analyze.add_argument(
        "--teachers", required=True, metavar="CKPT[,CKPT...]", help="teacher checkpoints"
    )
    analyze.add_argument(
        "--teacher-models",
        default=None,
        metavar="NAME[,NAME...]",
        help="their networks: zoo names, torchvision:... or timm:... (default: the ones "
        "their model.pt files record)",
    )
    analyze.add_argument("--student", required=True, metavar="CKPT", help="student checkpoint")
    analyze.add_argument(
        "--student-model",
        default=None,
        help="the student's network (default: the one its model.pt records)",
    )
    analyze.add_argument(
        "--dataset",
        default=None,
        help="dataset name, see `graphkd list` (default: the student's model.pt records it)",
    )
    analyze.add_argument("--output", required=True, help="report folder")
    analyze.add_argument("--subset", type=int, default=None, help="use N test images")
    analyze.add_argument("--root", default=None, help="data directory")
    analyze.add_argument("--batch-size", type=int, default=64, help="batch size of every pass")
    analyze.add_argument("--cam-images", type=int, default=4, help="images in the CAM figure")
    analyze.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    analyze.add_argument("--seed", type=int, default=0, help="subset and augmentation seed")

    graph = command(
        "graph", "draw a distillation run's teacher and student knowledge graphs on a batch"
    )
    graph.add_argument("run", metavar="RUN_DIR", help="a distillation run's folder")
    graph.add_argument("--out", default=None, help="the picture (default: RUN_DIR/graph.png)")
    graph.add_argument("--batch-size", type=int, default=32, help="test images in the batch")

    listing = command(
        "list", "methods, models, datasets, shipped configs and recipes with their targets"
    )
    with_imports(listing)

    config = command("config", "show a resolved config")
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print a config with every key resolved (defaults included)",
        description="print a config with every key resolved (defaults included)",
    )
    show.add_argument("name", help="a YAML file or a shipped config's name")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    quick = command(
        "quickstart",
        "Fashion-MNIST: a graph-distilled and a cross-entropy student from the shipped teacher",
    )
    quick.add_argument("--output", default="runs/quickstart", help="experiment directory")
    quick.add_argument(
        "--train-teacher",
        action="store_true",
        help="train the protocol's resnet20 teacher (about 45 minutes on 2 cores) instead of "
        "using the one shipped with graphkd",
    )
    quick.add_argument(
        "--method", default=None, help="the distillation method (default: the quickstart's)"
    )
    with_shortcuts(quick)
    quick.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the fashion_mnist_protocol config (repeatable)",
    )
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


def _import_modules(modules: List[str]) -> None:
    """Import the user's modules (from the current directory first, as ``python -m``)."""
    if "" not in sys.path:
        sys.path.insert(0, "")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(
                f"--import {module}: {error}; run from the folder holding it or add that "
                "folder to PYTHONPATH"
            ) from None


def _shortcut_overrides(args: argparse.Namespace, config: Any) -> List[str]:
    """``--epochs/--subset/...`` as config overrides; ``--epochs`` scales the milestones
    and the learning-rate warm-up (kept shorter than the run)."""
    overrides = []
    for key, value in (
        ("optim.epochs", args.epochs),
        ("data.subset", args.subset),
        ("data.test_subset", args.test_subset),
        ("data.limit_batches", args.limit_batches),
        ("run.device", args.device),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.epochs is not None and args.epochs >= 1:
        scale = args.epochs / config.optim.epochs
        milestones = sorted({max(1, round(m * scale)) for m in config.optim.milestones})
        overrides.append(f"optim.milestones={milestones}")
        if config.optim.warmup_epochs:
            warmup = min(round(config.optim.warmup_epochs * scale), args.epochs - 1)
            overrides.append(f"optim.warmup_epochs={warmup}")
    return overrides


def _load(args: argparse.Namespace, method: Optional[str] = None) -> Any:
    """The config of ``--config``, switched to ``method`` (whose options the file's do not
    carry over), then the shortcuts, then ``--set`` (the last word)."""
    from graphkd.engine.config import apply_overrides, load_config

    config = load_config(args.config)
    if method is not None and config.method.name != method:
        config = apply_overrides(config, [f"method.name={method}", "method.options={}"])
    shortcuts = _shortcut_overrides(args, config)
    if args.command == "distill":
        shortcuts += _stage_shortcuts(args, config, config.method.name, config.method.options)
    config = apply_overrides(config, shortcuts)
    return apply_overrides(config, args.overrides)


def _stage_shortcuts(args: argparse.Namespace, config: Any, method: str, options: Any) -> List[str]:
    """With ``--epochs N``, a method's own stages (MHGD's attention epochs) scaled like the
    milestones, to at most N epochs each (a factory's default need not suit the config's
    epochs); ``--set`` still has the last word."""
    if args.epochs is None or args.epochs < 1:
        return []
    from graphkd.engine.run_checks import check_method, stage_epoch_options

    check_method(method)
    scale = args.epochs / config.optim.epochs
    return [
        f"method.options.{key}={max(1, min(args.epochs, round(value * scale)))}"
        for key, value in stage_epoch_options(method, options).items()
    ]


def _recorded(checkpoint: str, what: str, option: str) -> str:
    """The model (``what`` = "model") or dataset a graphkd checkpoint records."""
    from graphkd.engine.trainer import recorded_model

    model, dataset = recorded_model(checkpoint)
    value = model if what == "model" else dataset
    if value is None:
        raise ValueError(f"{checkpoint} does not record its {what}; give it ({option})")
    return value


def _analyze(args: argparse.Namespace) -> int:
    from graphkd.analysis import write_report
    from graphkd.data import list_datasets
    from graphkd.engine.run_checks import check_model

    teachers = _split(args.teachers)
    option = "--teacher-models NAME[,NAME...]: zoo names, torchvision:... or timm:..."
    teacher_models = (
        _split(args.teacher_models)
        if args.teacher_models is not None
        else [_recorded(checkpoint, "model", option) for checkpoint in teachers]
    )
    student_model = args.student_model or _recorded(args.student, "model", "--student-model NAME")
    dataset = args.dataset or _recorded(args.student, "dataset", "--dataset NAME")
    for name in [*teacher_models, student_model]:
        check_model(name)
    _check_name("dataset", dataset, list_datasets())
    report = write_report(
        teachers,
        teacher_models,
        args.student,
        student_model,
        dataset,
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


def _list() -> int:
    from graphkd.data import list_datasets
    from graphkd.distill import list_methods
    from graphkd.engine.config import config_target, shipped_configs
    from graphkd.engine.trainer import CROSS_ENTROPY
    from graphkd.models import list_models

    print("methods: " + ", ".join([CROSS_ENTROPY, *list_methods()]))
    print("models: " + ", ".join(list_models()))
    print("datasets: " + ", ".join(list_datasets()))
    print("configs: " + ", ".join(shipped_configs()))
    print("recipes (the published top-1 each should reach):")
    for name in shipped_configs():
        target = config_target(name)
        if target:
            print(f"  {name}: {target}")
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from graphkd.engine.config import load_config
    from graphkd.engine.quickstart import QUICKSTART_CONFIG, QUICKSTART_METHOD, quickstart
    from graphkd.engine.run_checks import check_method

    method = args.method or QUICKSTART_METHOD
    check_method(method)
    base = load_config(QUICKSTART_CONFIG, [f"method.name={method}", *args.overrides])
    stages = _stage_shortcuts(args, base, method, base.method.options)
    overrides = [*_shortcut_overrides(args, base), *stages, *args.overrides]
    result = quickstart(args.output, method, overrides, train_teacher=args.train_teacher)
    print(result.summary())
    return 0


def _graph(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graphkd.analysis.graph_picture import draw_graphs
    from graphkd.engine.run_graphs import run_batch

    if args.batch_size < 2:
        raise ValueError(f"--batch-size {args.batch_size}: relations need at least 2 images")
    batch = run_batch(args.run, args.batch_size)
    figure = draw_graphs(batch.distiller, batch.teacher, batch.student, labels=batch.labels)
    out = args.out or os.path.join(args.run, "graph.png")
    figure.savefig(out, dpi=110)
    plt.close(figure)
    print(f"graphs of {args.run} (epoch {batch.epoch}) on {len(batch.labels)} test images: {out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "analyze":
        return _analyze(args)
    _import_modules(getattr(args, "imports", []))
    if args.command == "list":
        return _list()
    if args.command == "config":
        from graphkd.engine.config import config_yaml, load_config

        print(config_yaml(load_config(args.name, args.overrides)), end="")
        return 0
    if args.command == "quickstart":
        return _quickstart(args)
    if args.command == "graph":
        return _graph(args)

    from graphkd.engine.trainer import Trainer

    trainer = Trainer()
    if args.command == "train-teacher":
        result = trainer.train_teacher(_load(args), args.resume, args.overwrite)
        _report(f"teacher: {result.test_acc:.2f}% top-1; weights {result.model_path}")
        return 0
    if args.command == "distill":
        from graphkd.engine.run_checks import check_method

        config = _load(args, args.method)
        check_method(config.method.name)
        result = trainer.distill(
            config,
            resume=args.resume,
            overwrite=args.overwrite,
            allow_method_change=args.allow_method_change,
        )
        _report(
            f"student ({config.method.name}): {result.test_acc:.2f}% top-1; run {result.output}"
        )
        return 0
    from graphkd.engine.trainer import recorded_model

    saved_model, saved_dataset = (None, None)
    if args.model is None or args.dataset is None:
        saved_model, saved_dataset = recorded_model(args.checkpoint)
    model, dataset = args.model or saved_model, args.dataset or saved_dataset
    accuracy = trainer.evaluate(
        model, args.checkpoint, dataset, args.root, args.batch_size, args.subset, args.device
    )
    print(f"{model} on {dataset}: {accuracy:.2f}% top-1")
    return 0


def _one_line(message: str) -> str:
    """A message of several lines as one: a line after one ending in ':' continues it,
    other lines are separate points joined with '; '."""
    text = ""
    for line in (" ".join(part.split()) for part in message.splitlines()):
        if line:
            text += line if not text else (" " if text.endswith(":") else "; ") + line
    return text


def _interrupted(args: argparse.Namespace, interrupt: KeyboardInterrupt) -> str:
    """What a Ctrl-C left behind and how to continue, in one line."""
    trainer = sys.modules.get("graphkd.engine.trainer")
    if trainer is None or not isinstance(interrupt, trainer.RunInterrupted):
        return "nothing was saved"
    if interrupt.saved_epochs is None or args.command == "quickstart":
        return f"{interrupt}; run the same command again"
    return f"{interrupt}; continue with the same command and --resume"


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``graphkd`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 on bad input (one line on stderr says what
    to fix), 130 after Ctrl-C (one line says what was saved and how to continue).
    """
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"{PROG}: error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        if os.environ.get("RANK", "0") == "0":
            print(f"{PROG}: interrupted: {_interrupted(args, interrupt)}", file=sys.stderr)
        return 130
