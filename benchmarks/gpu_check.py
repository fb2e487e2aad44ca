r"""One check of graphkd on a GPU: the CUDA tests, every method's loss and gradients on the
device against CPU float64, and the whole-step table with AMP on.

Three parts, in this order, within one time budget (``--budget-s``, 420 s by default,
counted once torch and graphkd are imported, so that the command ends within 8 minutes
on one GPU). What no longer fits is skipped, and the output names it as skipped; the
outputs are rewritten after each part, so a run stopped from outside keeps what it did.

1. **Tests.** The suite marks no test for a device; the tests about CUDA say so in their
   names, so ``pytest -k "cuda or gpu" tests`` selects them: the command line's error for
   a missing GPU (skipped where one is visible) and this script's own tests
   (``tests/benchmarks/test_gpu_check.py``), one of which compares every method on CUDA
   when a GPU is visible. They run in a subprocess; the counts are recorded and the log
   is kept (``pytest.log``).
2. **Loss and gradients.** For every registered method, and each stage of a staged one,
   the same random responses (logits, embeddings and three tapped feature maps per
   network, a virtual view, dataset indices and labels, as the registry-wide tests build
   them) and the same initial state of the method go through the method on the device in
   float32 and on the CPU in float64. What the method draws at random (memory-bank
   negatives, MHGD's head drop) is drawn once, on the CPU, and replayed on the device.
   With :math:`\ell, g_j` the device's loss and gradients (every student tensor, every
   parameter of the method) and :math:`\ell^*, g^*_j` the float64 ones:

   .. math::

       e_\ell = \frac{|\ell - \ell^*|}{|\ell^*|}, \qquad
       e_g = \max_j \frac{\lVert g_j - g^*_j \rVert_\infty}{\lVert g^*_j \rVert_\infty}

   (each gradient measured against at least 1e-3 of the method's largest float64
   gradient, since one that is zero in exact arithmetic, a bias followed by batch
   normalisation, is float32 noise of the size of the gradients around it). A method
   passes when :math:`e_\ell \le 10^{-4}` and :math:`e_g \le 10^{-2}`
   (``--loss-tolerance``, ``--gradient-tolerance``). TF32 is switched off for the
   comparison, so the device computes in true float32, unit roundoff
   :math:`u = 2^{-24} \approx 6 \cdot 10^{-8}`. A loss sums at most a few thousand
   terms (B C logits, B x B Gram matrices, B K bank scores), for which the bound
   :math:`\sqrt{n}\,u` stays below :math:`10^{-5}`; CPU float32 stays within 3e-6 of
   float64 for every method on these inputs, and a dropped edge or a wrong branch moves a
   loss by far more than 1e-4. Gradients are looser because some are small sums of
   large terms that cancel: CTKD's temperature gradient (one scalar summed over B C
   terms) is off by 4e-4 on the CPU in float32 here and by up to 1.6e-3 for other random
   inputs of B >= 16, KDSVD's and MHGD's gradients through eigenvectors by up to 8e-4;
   every other gradient by less than 2e-4.
3. **Steps.** :mod:`steps` measures a whole training step of every method (teacher and
   student forward, cross-entropy and the method's loss, backward) on the device with
   AMP on, as time and peak memory per method and as ratios to KD (``--repeats`` rounds,
   fewer when the budget runs short).

Everything goes to ``gpu_check.md`` and ``gpu_check.json`` in ``--out``, with the device,
the versions and the exact command; the exit status is 1 when a test or a comparison
fails. On a GPU::

    python benchmarks/gpu_check.py --out gpu_check

``--device cpu`` runs the same parts on the CPU (float32 against float64 there), which is
how the tests cover them without a GPU.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import platform
import re
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import steps as step_benchmark
import torch
from torch import Tensor

import graphkd
from graphkd import Responses
from graphkd._dgl import dgl_supports
from graphkd.distill import Distiller, method_arguments

ROOT = Path(__file__).resolve().parents[1]
#: pytest's keyword expression for the tests about CUDA.
CUDA_TESTS = "cuda or gpu"
#: Classes of the random logits.
CLASSES = 100
#: Embedding width and tapped feature channels of each network (equal channels: FSP,
#: KDSVD and MHGD compare paired stages of equal widths).
WIDTHS = {
    "teacher": (64, {"s1": 16, "s2": 32, "s3": 64}),
    "student": (32, {"s1": 16, "s2": 32, "s3": 64}),
}
#: Side of each tapped feature map.
SPATIAL = {"s1": 8, "s2": 4, "s3": 4}
#: A gradient is measured against at least this fraction of the method's largest one.
GRADIENT_FLOOR = 1e-3


@dataclasses.dataclass
class Sizes:
    """The comparison's batch and the memory banks' rows and negatives."""

    batch: int = 32
    num_samples: int = 4096
    nce_k: int = 64


@dataclasses.dataclass
class Tolerance:
    """The largest relative errors of a loss and of its gradients that pass."""

    loss: float = 1e-4
    gradient: float = 1e-2


@dataclasses.dataclass
class Comparison:
    """One method's (one stage's) loss and gradients on the device against float64."""

    method: str
    stage: str
    passed: bool
    loss: Optional[float] = None
    loss_error: Optional[float] = None
    gradient_error: Optional[float] = None
    worst_gradient: Optional[str] = None
    gradients: int = 0
    error: Optional[str] = None


class Budget:
    """Seconds left of ``seconds`` counted from creation."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()

    def used(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.seconds - self.used()


#: The random functions of torch that a method's forward pass may call.
RANDOM_FUNCTIONS = ("rand", "randn", "randint", "randperm")


@contextmanager
def same_draws(draws: List[Tensor], record: bool) -> Iterator[None]:
    """Within the block, torch's :data:`RANDOM_FUNCTIONS` record what they draw
    (``record``) or hand out the recorded draws in order, on the device and in the type
    asked for: two devices' generators cannot draw alike."""
    originals = {name: getattr(torch, name) for name in RANDOM_FUNCTIONS}

    def recording(original: Any) -> Any:
        def draw(*args: Any, **kwargs: Any) -> Tensor:
            drawn = original(*args, **kwargs)
            draws.append(drawn.cpu())
            return drawn

        return draw

    def replaying(*args: Any, device: Any = None, dtype: Any = None, **kwargs: Any) -> Tensor:
        recorded = draws.pop(0)
        return recorded.to(device=device or "cpu", dtype=dtype or recorded.dtype)

    try:
        for name, original in originals.items():
            setattr(torch, name, recording(original) if record else replaying)
        yield
    finally:
        for name, original in originals.items():
            setattr(torch, name, original)


def make_method(name: str, sizes: Sizes) -> Distiller:
    """Method ``name`` on the CPU in float32, its parameters drawn from seed 0."""
    known = {
        "num_samples": sizes.num_samples,
        "nce_k": sizes.nce_k,
        "num_classes": CLASSES,
        "labels": torch.arange(sizes.num_samples) % CLASSES,
        **{f"{role}_dim": WIDTHS[role][0] for role in WIDTHS},
        **{f"{role}_channels": WIDTHS[role][1] for role in WIDTHS},
        **{
            f"{role}_shapes": {k: (c, SPATIAL[k], SPATIAL[k]) for k, c in WIDTHS[role][1].items()}
            for role in WIDTHS
        },
    }
    torch.manual_seed(0)
    return graphkd.create_method(name, **method_arguments(name, known))


def random_responses(role: str, batch: int, num_samples: int, seed: int) -> Responses:
    """Float64 CPU responses of ``role`` with a virtual view; ``(B, C)`` logits, ``(B, D)``
    embedding, ``(B, C_k, H_k, W_k)`` features, indices spread over the dataset."""
    generator = torch.Generator().manual_seed(seed)
    dim, channels = WIDTHS[role]
    index = torch.randperm(num_samples, generator=generator)[:batch]

    def tensor(*shape: int) -> Tensor:
        return torch.randn(batch, *shape, generator=generator, dtype=torch.float64)

    def one_view() -> Responses:
        return Responses(
            logits=3 * tensor(CLASSES),
            embedding=tensor(dim),
            features={k: tensor(c, SPATIAL[k], SPATIAL[k]) for k, c in channels.items()},
            index=index,
            labels=index % CLASSES,
        )

    responses = one_view()
    responses.virtual = one_view()
    return responses


def on(responses: Responses, device: torch.device, dtype: torch.dtype, grad: bool) -> Responses:
    """A copy on ``device`` in ``dtype``, every float tensor a leaf (with ``grad``)."""

    def move(r: Responses) -> Responses:
        return dataclasses.replace(
            r.map(lambda t: t.detach().to(device, dtype).requires_grad_(grad)),
            index=r.index.to(device),
            labels=r.labels.to(device),
            virtual=None if r.virtual is None else move(r.virtual),
        )

    return move(responses)


def student_leaves(student: Responses) -> Dict[str, Tensor]:
    """``{name: tensor}`` of every float tensor of the student's responses."""
    leaves = {}
    for view, r in (("", student), ("virtual.", student.virtual)):
        if r is None:
            continue
        leaves[f"student.{view}logits"] = r.logits
        leaves[f"student.{view}embedding"] = r.embedding
        leaves.update({f"student.{view}features[{k}]": v for k, v in r.features.items()})
    return leaves


def evaluate(
    method: Distiller, stage: str, trains: str, teacher: Responses, student: Responses
) -> Tuple[Tensor, Dict[str, Optional[Tensor]]]:
    """The loss of ``stage`` and the float64 CPU gradient of every student tensor and
    parameter of ``method`` (``None`` where the loss does not reach it)."""
    method.zero_grad(set_to_none=True)
    if trains == "distiller":
        loss = method.stage_loss(stage, teacher)["loss"]
    else:
        loss = method(teacher, student)["loss"]
    loss.backward()
    tensors = {**student_leaves(student), **dict(method.named_parameters())}
    grads = {
        name: None if t.grad is None else t.grad.detach().cpu().double()
        for name, t in tensors.items()
    }
    return loss.detach().cpu().double(), grads


@contextmanager
def true_float32() -> Iterator[None]:
    """TF32 off for matrix products and convolutions (no effect on a CPU)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def relative_errors(
    loss: Tensor,
    reference_loss: Tensor,
    grads: Dict[str, Optional[Tensor]],
    reference_grads: Dict[str, Optional[Tensor]],
) -> Tuple[float, float, Optional[str], int]:
    """``(e_loss, e_grad, worst gradient's name, gradients compared)`` as in the module's
    docstring; a gradient present on one side only, or non-finite, is an infinite error."""
    loss_error = float((loss - reference_loss).abs() / reference_loss.abs())
    if not math.isfinite(loss_error):
        loss_error = 0.0 if bool(loss == reference_loss) else math.inf
    largest = max(
        (float(g.abs().max()) for g in reference_grads.values() if g is not None and g.numel()),
        default=0.0,
    )
    worst, worst_name, compared = 0.0, None, 0
    for name, reference in reference_grads.items():
        got = grads[name]
        if got is None and reference is None:
            continue
        compared += 1
        if got is None or reference is None:
            error = math.inf
        else:
            own = float(reference.abs().max()) if reference.numel() else 0.0
            scale = max(own, GRADIENT_FLOOR * largest)
            difference = float((got - reference).abs().max()) if got.numel() else 0.0
            error = difference / scale if scale else difference
            if not math.isfinite(error) or not bool(torch.isfinite(got).all()):
                error = math.inf
        if worst_name is None or error > worst:
            worst, worst_name = error, name
    return loss_error, worst, worst_name, compared


def compare_method(
    name: str, device: torch.device, sizes: Sizes, tolerance: Tolerance
) -> List[Comparison]:
    """:class:`Comparison` of each stage of method ``name``: float32 on ``device`` against
    float64 on the CPU, from the same initial state and inputs."""
    results = []
    try:
        method = make_method(name, sizes)
        stages = [(stage.name, stage.trains) for stage in method.stages()]
    except Exception as error:  # reported, and the other methods still run
        return [Comparison(name, "-", False, error=f"{type(error).__name__}: {error}")]
    for stage, trains in stages:
        try:
            method.set_stage(stage)
            reference_side = copy.deepcopy(method).to(torch.float64)
            device_side = copy.deepcopy(method).to(device)
            draws: List[Tensor] = []
            teacher = random_responses("teacher", sizes.batch, sizes.num_samples, seed=1)
            student = random_responses("student", sizes.batch, sizes.num_samples, seed=2)
            with same_draws(draws, record=True):
                reference_loss, reference_grads = evaluate(
                    reference_side,
                    stage,
                    trains,
                    on(teacher, torch.device("cpu"), torch.float64, grad=False),
                    on(student, torch.device("cpu"), torch.float64, grad=True),
                )
            with true_float32(), same_draws(draws, record=False):
                loss, grads = evaluate(
                    device_side,
                    stage,
                    trains,
                    on(teacher, device, torch.float32, grad=False),
                    on(student, device, torch.float32, grad=True),
                )
            loss_error, grad_error, worst, compared = relative_errors(
                loss, reference_loss, grads, reference_grads
            )
            passed = loss_error <= tolerance.loss and grad_error <= tolerance.gradient
            results.append(
                Comparison(
                    name,
                    stage,
                    passed,
                    float(reference_loss),
                    loss_error,
                    grad_error,
                    worst,
                    compared,
                )
            )
        except Exception as error:  # reported, and the other stages still run
            results.append(Comparison(name, stage, False, error=f"{type(error).__name__}: {error}"))
    return results


def run_tests(
    paths: Sequence[str], keyword: Optional[str], timeout_s: float, log: Path
) -> Dict[str, Any]:
    """Run pytest on ``paths`` (``-k keyword``) in a subprocess from the repository root;
    ``{"command", "counts", "returncode", "timed_out", "summary"}`` with the log in ``log``."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"]
    command += ["-k", keyword] if keyword else []
    command += list(paths)
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=max(timeout_s, 1)
        )
        output, returncode, timed_out = done.stdout + done.stderr, done.returncode, False
    except subprocess.TimeoutExpired as expired:
        output = "".join(
            part.decode() if isinstance(part, bytes) else part or ""
            for part in (expired.stdout, expired.stderr)
        )
        returncode, timed_out = None, True
    log.write_text(output)
    lines = [line for line in output.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if re.search(r"\d+ \w+ in ", line)), "")
    counts = {
        kind.rstrip("s") if kind == "errors" else kind: int(count)
        for count, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary)
    }
    return {
        "command": shlex.join(["python", *command[1:]]),
        "counts": counts,
        "returncode": returncode,
        "timed_out": timed_out,
        "summary": summary.strip("= "),
    }


def measure_steps(args: argparse.Namespace, device: torch.device, budget: Budget) -> Dict[str, Any]:
    """The steps table of ``args.methods`` on ``device`` with AMP on: one warm-up round,
    then as many of ``args.repeats`` timed rounds as the budget leaves room for (a round
    of memory measurement kept back)."""
    steps = step_benchmark.build_steps(args, device, amp=True)
    start = time.monotonic()
    for step, _ in steps.values():  # warm-up; its length sizes the timed rounds
        step()
    step_benchmark.synchronise(device)
    one_round = time.monotonic() - start
    repeats = min(args.repeats, int(budget.left() / max(one_round, 1e-9)) - 1)
    if repeats < 1:
        return {"skipped": f"one round takes {one_round:.1f} s; {budget.left():.0f} s were left"}
    medians = step_benchmark.time_steps(steps, repeats, device)
    memory = step_benchmark.steps_memory(steps, device)
    caption = step_benchmark.steps_caption(args, device, True, repeats)
    return {
        "repeats": repeats,
        "median_s": medians,
        "memory_bytes": memory,
        "table": step_benchmark.steps_table(caption, medians, memory),
    }


def environment(device: torch.device, argv: Sequence[str]) -> Dict[str, Any]:
    """The device, the versions and the command."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = (
            f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
    try:
        dgl = metadata.version("dgl")
    except metadata.PackageNotFoundError:
        dgl = "not installed"
    return {
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "dgl": dgl,
        "dgl_holds_graphs_on_device": dgl_supports(device),
        "graphkd": graphkd.__version__,
        "python": platform.python_version(),
        "command": shlex.join(["python", "benchmarks/gpu_check.py", *argv]),
    }


def number(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1e}"


def report(results: Dict[str, Any]) -> str:
    """The markdown of ``results`` (see :func:`main`)."""
    env = results["environment"]
    lines = [
        "# GPU check",
        "",
        f"Command: `{env['command']}`",
        "",
        f"Device: {env['device']}; torch {env['torch']} (CUDA {env['cuda']}, cuDNN "
        f"{env['cudnn']}), DGL {env['dgl']} (holds graphs on this device: "
        f"{'yes' if env['dgl_holds_graphs_on_device'] else 'no, the PyTorch kernels run'}), "
        f"graphkd {env['graphkd']}, Python {env['python']}.",
        "",
        f"Budget {results['budget_s']:.0f} s, used {results['used_s']:.0f} s.",
        "",
        "## Tests",
        "",
    ]
    tests = results.get("tests", {"skipped": "not reached"})
    if "skipped" in tests:
        lines.append(f"Skipped: {tests['skipped']}.")
    else:
        counts = ", ".join(f"{n} {kind}" for kind, n in tests["counts"].items()) or "nothing ran"
        ending = " (stopped at its time limit)" if tests["timed_out"] else ""
        lines.append(f"`{tests['command']}`: {counts}{ending}; log in `pytest.log`.")
    comparison = results.get("comparison")
    if comparison is None:
        return "\n".join(lines) + "\n\nThe comparison and the steps table: not reached.\n"
    lines += [
        "",
        "## Loss and gradients against CPU float64",
        "",
        f"Float32 on {env['device']} (TF32 off) against float64 on the CPU, same inputs "
        f"and initial state; largest relative error of the loss and of any gradient; "
        f"passed when the loss is within {comparison['tolerance']['loss']:g} and every "
        f"gradient within {comparison['tolerance']['gradient']:g}.",
        "",
        "| method | stage | loss (float64) | loss error | gradient error | worst gradient "
        "| passed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in comparison["results"]:
        if row["error"]:
            error = " ".join(row["error"].replace("|", "/").split())  # one table cell
            lines.append(f"| {row['method']} | {row['stage']} | error: {error} |||| no |")
            continue
        lines.append(
            f"| {row['method']} | {row['stage']} | {row['loss']:.6g} | "
            f"{number(row['loss_error'])} | {number(row['gradient_error'])} | "
            f"{row['worst_gradient'] or '-'} | {'yes' if row['passed'] else '**no**'} |"
        )
    if comparison["skipped"]:
        lines += ["", f"Skipped (budget spent): {', '.join(comparison['skipped'])}."]
    lines += ["", "## Whole steps with AMP on", ""]
    steps = results.get("steps", {"skipped": "not reached"})
    if "table" in steps:
        lines.append(steps["table"])
    else:
        lines.append(f"Skipped: {steps['skipped']}." if "skipped" in steps else steps["error"])
    return "\n".join(lines).rstrip("\n") + "\n"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, cpu, ...")
    parser.add_argument("--out", type=Path, required=True, help="folder of the outputs")
    parser.add_argument("--budget-s", type=float, default=420.0)
    parser.add_argument("--methods", nargs="+", default=graphkd.list_methods())
    parser.add_argument("--loss-tolerance", type=float, default=Tolerance.loss)
    parser.add_argument("--gradient-tolerance", type=float, default=Tolerance.gradient)
    parser.add_argument("--tests", default=CUDA_TESTS, help="pytest -k expression; '' skips")
    parser.add_argument("--compare-batch", type=int, default=Sizes.batch)
    parser.add_argument("--compare-samples", type=int, default=Sizes.num_samples)
    parser.add_argument("--compare-nce-k", type=int, default=Sizes.nce_k)
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--batch", type=int, default=64, help="batch of the steps table")
    parser.add_argument("--num-samples", type=int, default=50000, help="memory-bank rows")
    parser.add_argument("--nce-k", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is visible; use --device cpu")
    if "kd" not in args.methods:
        parser.error("include kd among --methods: it is the steps table's reference")
    return args


def write(results: Dict[str, Any], out: Path, budget: Budget) -> str:
    """Write ``gpu_check.json`` and ``gpu_check.md`` of what has run so far; the markdown."""
    results["used_s"] = budget.used()
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = report(results)
    (out / "gpu_check.md").write_text(markdown)
    return markdown


#: Shares of the budget: the most the tests may take, and what the comparison leaves for
#: the steps table.
TESTS_SHARE, STEPS_SHARE = 0.35, 0.3


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the three parts, write ``gpu_check.md`` and ``gpu_check.json``; 1 on a failure."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    budget = Budget(args.budget_s)
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    results: Dict[str, Any] = {"environment": environment(device, argv), "budget_s": args.budget_s}
    spent = {"skipped": f"the budget of {args.budget_s:.0f} s was spent"}

    if not args.tests:
        results["tests"] = {"skipped": "no tests asked for (--tests '')"}
    elif budget.left() <= 0:
        results["tests"] = spent
    else:
        limit = min(TESTS_SHARE * args.budget_s, budget.left())
        results["tests"] = run_tests(["tests"], args.tests, limit, args.out / "pytest.log")
    write(results, args.out, budget)
    print(f"[{budget.used():.0f} s] tests done", file=sys.stderr, flush=True)

    sizes = Sizes(args.compare_batch, args.compare_samples, args.compare_nce_k)
    tolerance = Tolerance(args.loss_tolerance, args.gradient_tolerance)
    compared: List[Comparison] = []
    skipped: List[str] = []
    for name in args.methods:
        if budget.left() < STEPS_SHARE * args.budget_s:
            skipped.append(name)
            continue
        compared += compare_method(name, device, sizes, tolerance)
    results["comparison"] = {
        "tolerance": dataclasses.asdict(tolerance),
        "sizes": dataclasses.asdict(sizes),
        "results": [dataclasses.asdict(c) for c in compared],
        "skipped": skipped,
    }
    write(results, args.out, budget)
    print(f"[{budget.used():.0f} s] comparison done", file=sys.stderr, flush=True)

    if budget.left() <= 0:
        results["steps"] = spent
    else:
        try:
            results["steps"] = measure_steps(args, device, budget)
        except Exception as error:  # the report of the other parts is still written
            results["steps"] = {"error": f"error: {type(error).__name__}: {error}"}
    markdown = write(results, args.out, budget)
    print(markdown)
    tests = results["tests"]
    # pytest's 5: no test selected; a run stopped at its time limit has no status and fails
    failed = "skipped" not in tests and tests["returncode"] not in (0, 5)
    failed = failed or "error" in results["steps"] or not all(c.passed for c in compared)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
