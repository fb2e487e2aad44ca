"""benchmarks/gpu_check.py: its comparison catches a device that computes wrongly, its
steps table and report come out whole, and its CUDA-only branches run against a stand-in
for ``torch.cuda``; on a machine with a GPU, every method is compared on CUDA."""

from __future__ import annotations

import json
import math

import pytest
import torch

import graphkd

CPU = torch.device("cpu")
#: The steps table's smallest setting: two resnet8s on a batch of 2.
TINY_STEPS = [
    "--teacher", "resnet8", "--student", "resnet8", "--batch", "2",
    "--num-samples", "64", "--nce-k", "16", "--repeats", "1",
]  # fmt: skip


@pytest.fixture
def gpu_check(load_benchmark):
    return load_benchmark("gpu_check")


@pytest.mark.parametrize("name", graphkd.list_methods())
def test_float32_on_the_cpu_agrees_with_float64_for_every_method(gpu_check, name):
    """The CPU is the comparison's own control: float32 there passes the tolerances."""
    for row in gpu_check.compare_method(name, CPU, gpu_check.Sizes(), gpu_check.Tolerance()):
        assert row.error is None, row.error
        assert row.passed, row
        assert row.gradients >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", graphkd.list_methods())
def test_every_method_on_cuda_agrees_with_cpu_float64(gpu_check, name):
    device = torch.device("cuda")
    for row in gpu_check.compare_method(name, device, gpu_check.Sizes(), gpu_check.Tolerance()):
        assert row.error is None, row.error
        assert row.passed, row


def kd_class():
    return type(graphkd.create_method("kd"))


def test_a_loss_off_by_a_thousandth_on_the_device_fails(gpu_check, monkeypatch):
    forward = kd_class().forward

    def off(self, teacher, student):
        out = forward(self, teacher, student)
        if student.logits.dtype == torch.float32:  # the device's side
            out = {**out, "loss": out["loss"] * 1.001}
        return out

    monkeypatch.setattr(kd_class(), "forward", off)
    (row,) = gpu_check.compare_method("kd", CPU, gpu_check.Sizes(), gpu_check.Tolerance())
    assert row.error is None
    assert row.loss_error == pytest.approx(1e-3, rel=1e-2)
    assert row.gradient_error == pytest.approx(1e-3, rel=1e-2)  # below its tolerance
    assert not row.passed


def test_a_gradient_wrong_on_the_device_fails_with_the_loss_right(gpu_check, monkeypatch):
    forward = kd_class().forward

    def wrong_gradient(self, teacher, student):
        out = forward(self, teacher, student)
        if student.logits.dtype == torch.float32:
            logits = student.logits
            extra = 1e-3 * (logits - logits.detach()).sum()  # zero, with a gradient
            out = {**out, "loss": out["loss"] + extra}
        return out

    monkeypatch.setattr(kd_class(), "forward", wrong_gradient)
    (row,) = gpu_check.compare_method("kd", CPU, gpu_check.Sizes(), gpu_check.Tolerance())
    assert row.loss_error < 1e-6
    assert row.gradient_error > 1e-2
    assert row.worst_gradient == "student.logits"
    assert not row.passed


def test_a_method_that_raises_is_reported_and_fails(gpu_check, monkeypatch):
    def broken(self, teacher, student):
        raise RuntimeError("no kernel for this device")

    monkeypatch.setattr(kd_class(), "forward", broken)
    (row,) = gpu_check.compare_method("kd", CPU, gpu_check.Sizes(), gpu_check.Tolerance())
    assert not row.passed
    assert row.error == "RuntimeError: no kernel for this device"


def test_random_draws_are_replayed_in_order_on_the_device_and_type_asked(gpu_check):
    draws = []
    randn = torch.randn
    with gpu_check.same_draws(draws, record=True):
        first = torch.randn(3, 2)
        second = torch.randint(0, 10, (4,))
    assert len(draws) == 2
    with gpu_check.same_draws(draws, record=False):
        again = torch.randn(3, 2, device="cpu", dtype=torch.float64)
        torch.testing.assert_close(torch.randint(0, 10, (4,)), second)
    torch.testing.assert_close(again, first.double())
    assert torch.randn is randn and not draws


def test_relative_errors_floor_zero_gradients_and_flag_missing_ones(gpu_check):
    def f64(*values):
        return torch.tensor(values, dtype=torch.float64)

    errors = gpu_check.relative_errors
    reference = {"a": f64(2.0, -4.0), "zero": f64(0.0, 0.0), "none": None}
    close = {"a": f64(2.0, -4.004), "zero": f64(2e-6, -2e-6), "none": None}
    loss_error, grad_error, worst, compared = errors(f64(1.001), f64(1.0), close, reference)
    assert loss_error == pytest.approx(1e-3)
    assert (grad_error, worst, compared) == (pytest.approx(1e-3), "a", 2)
    # 'zero' is measured against 1e-3 of the largest gradient (4): 8e-6 / 4e-3
    noisy = {**close, "zero": f64(8e-6, 0.0)}
    assert errors(f64(1.0), f64(1.0), noisy, reference)[1:3] == (pytest.approx(2e-3), "zero")
    missing = {**close, "a": None}
    assert errors(f64(1.0), f64(1.0), missing, reference)[1:3] == (math.inf, "a")
    nan = {**close, "zero": f64(0.0, math.nan)}
    assert errors(f64(1.0), f64(1.0), nan, reference)[1:3] == (math.inf, "zero")


def test_the_tests_part_counts_each_outcome(gpu_check, tmp_path):
    (tmp_path / "test_three.py").write_text(
        "import pytest\n\n"
        "def test_passes():\n    assert True\n\n"
        "def test_fails():\n    assert False\n\n"
        "@pytest.mark.skip(reason='shown')\ndef test_skipped():\n    pass\n\n"
        "def test_other():\n    pass\n"
    )
    log = tmp_path / "pytest.log"
    outcome = gpu_check.run_tests([str(tmp_path)], "not other", 120, log)
    assert outcome["counts"] == {"passed": 1, "failed": 1, "skipped": 1, "deselected": 1}
    assert outcome["returncode"] == 1 and not outcome["timed_out"]
    assert "test_fails" in log.read_text()
    assert "-k 'not other'" in outcome["command"]


def test_tests_past_their_time_limit_are_stopped_and_reported(gpu_check, tmp_path):
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(600)\n")
    outcome = gpu_check.run_tests([str(tmp_path)], None, 8, tmp_path / "pytest.log")
    assert outcome["timed_out"] and outcome["returncode"] is None
    assert outcome["counts"] == {}
    results = {"environment": gpu_check.environment(CPU, []), "budget_s": 10, "tests": outcome}
    markdown = gpu_check.write(results, tmp_path, gpu_check.Budget(10))
    assert ": nothing ran (stopped at its time limit); log in `pytest.log`." in markdown
    assert markdown.endswith("The comparison and the steps table: not reached.\n")
    assert json.loads((tmp_path / "gpu_check.json").read_text())["tests"]["timed_out"]


def test_the_cuda_branches_run_against_a_stand_in_for_torch_cuda(gpu_check, monkeypatch):
    steps = gpu_check.step_benchmark
    calls = []
    allocated = iter([1000])
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: next(allocated))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 5000)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Stand-in GPU")
    monkeypatch.setattr(gpu_check, "dgl_supports", lambda device: False)
    cuda = torch.device("cuda")

    def step():
        calls.append("step")

    assert steps.memory_of(step, 24, cuda) == 5000 - 1000 + 24
    assert calls == ["sync", "reset", "step", "sync"]
    calls.clear()
    medians = steps.time_steps({"kd": (step, None), "rkd": (step, None)}, 2, cuda)
    assert list(medians) == ["kd", "rkd"]
    assert calls == ["sync", "step", "sync"] * 4

    args = gpu_check.parse_args(["--device", "cpu", "--out", "unused"])
    caption = steps.steps_caption(args, cuda, True, 20)
    assert "Stand-in GPU, AMP on" in caption and "peak allocated memory" in caption
    env = gpu_check.environment(cuda, ["--out", "my folder"])
    assert env["device"] == "Stand-in GPU"
    assert env["dgl_holds_graphs_on_device"] is False
    assert env["command"] == "python benchmarks/gpu_check.py --out 'my folder'"


def test_a_cpu_run_writes_the_report_with_the_steps_table(gpu_check, tmp_path):
    out = tmp_path / "check"
    argv = ["--device", "cpu", "--methods", "kd", "vrm", "--tests", "", "--out", str(out)]
    argv += ["--compare-batch", "8", *TINY_STEPS]
    assert gpu_check.main(argv) == 0
    results = json.loads((out / "gpu_check.json").read_text())
    assert [row["method"] for row in results["comparison"]["results"]] == ["kd", "vrm"]
    assert all(row["passed"] for row in results["comparison"]["results"])
    steps = results["steps"]
    assert steps["repeats"] == 1 and steps["median_s"]["kd"] > 0
    assert set(steps["memory_bytes"]) == {"kd", "vrm"}
    markdown = (out / "gpu_check.md").read_text()
    assert f"Command: `python benchmarks/gpu_check.py {' '.join(argv[:4])}" in markdown
    assert "| kd | distill | " in markdown and "| vrm | distill | " in markdown
    assert "AMP on" in markdown and "| kd | " in markdown.split("## Whole steps")[1]
    assert "Skipped: no tests asked for" in markdown


@pytest.mark.parametrize("broken", ["comparison", "steps"])
def test_a_failing_part_makes_the_run_fail_and_is_reported(
    gpu_check, tmp_path, monkeypatch, broken
):
    def compared(name, device, sizes, tolerance):
        if broken == "comparison":
            return [gpu_check.Comparison(name, "distill", False, error="ValueError: off")]
        return [gpu_check.Comparison(name, "distill", True, 1.0, 0.0, 0.0, "student.logits", 1)]

    def measured(args, device, budget):
        if broken == "steps":
            raise RuntimeError("out of memory")
        return {"skipped": "not asked"}

    monkeypatch.setattr(gpu_check, "compare_method", compared)
    monkeypatch.setattr(gpu_check, "measure_steps", measured)
    argv = ["--device", "cpu", "--methods", "kd", "--tests", "", "--out", str(tmp_path)]
    assert gpu_check.main(argv) == 1
    markdown = (tmp_path / "gpu_check.md").read_text()
    if broken == "comparison":
        assert "| kd | distill | error: ValueError: off |||| no |" in markdown
    else:
        assert "| kd | distill | 1 | 0.0e+00 | 0.0e+00 | student.logits | yes |" in markdown
        assert markdown.endswith("with AMP on\n\nerror: RuntimeError: out of memory\n")


def test_the_command_line_refuses_what_cannot_run(gpu_check, tmp_path, capsys):
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--device", "cpu", "--methods", "rkd", "--out", str(tmp_path)])
    assert "include kd among --methods" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            gpu_check.parse_args(["--out", str(tmp_path)])
        assert "no CUDA device is visible; use --device cpu" in capsys.readouterr().err


def test_a_spent_budget_skips_every_part_and_says_so(gpu_check, tmp_path):
    argv = ["--device", "cpu", "--budget-s", "0", "--out", str(tmp_path)]
    assert gpu_check.main(argv) == 0
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert "## Tests\n\nSkipped: the budget of 0 s was spent." in markdown
    assert "Skipped (budget spent): " + ", ".join(graphkd.list_methods()) in markdown
    assert "## Whole steps with AMP on\n\nSkipped: the budget of 0 s was spent." in markdown
