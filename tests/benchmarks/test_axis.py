"""benchmarks/axis.py: paired gains per point of an axis, each against its own folder."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats


def finished(folder, method, accuracies, seconds=60.0, stage_seconds=None):
    for seed, accuracy in enumerate(accuracies):
        run = folder / f"seed{seed}" / method
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text(
            f"epoch,test_acc,seconds\n1,50.0,{seconds}\n2,{accuracy},{seconds}\n"
        )
        if stage_seconds is not None:
            (run / "metrics_attention.csv").write_text(f"epoch,seconds\n1,{stage_seconds}\n")
        (run / "model.pt").write_text("weights")


def interval(differences):
    mean = sum(differences) / len(differences)
    half = scipy_stats.t.ppf(0.975, len(differences) - 1) * scipy_stats.tstd(differences)
    half /= len(differences) ** 0.5
    return f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]"


def test_each_point_is_compared_with_the_references_of_its_own_folder(tmp_path, load_benchmark):
    axis = load_benchmark("axis")
    short, long = tmp_path / "short", tmp_path / "long"
    finished(short, "ce", [80.0, 81.0, 83.0])
    finished(short, "kd", [82.0, 84.5, 84.0])
    finished(short, "hkd", [77.0, 79.0, 79.5], stage_seconds=120.0)
    finished(long, "ce", [85.0, 85.5, 84.0], seconds=120.0)
    finished(long, "kd", [87.0, 88.0, 87.5])
    finished(long, "hkd", [86.0, 85.0, 86.5])
    out = tmp_path / "axis"
    axis.main(
        [f"15={short}", f"30={long}", "--rows", "kd", "hkd", "--axis", "epochs", "--out", str(out)]
    )
    lines = (tmp_path / "axis.md").read_text().splitlines()
    assert lines[0].startswith("Command: `python benchmarks/axis.py 15=")
    assert "| row | epochs | top-1, mean +- std | vs ce | vs kd | min / run |" in lines
    hkd_15 = next(x for x in lines if x.startswith("| hkd | 15 |")).split(" | ")
    assert hkd_15[3].startswith(interval([-3.0, -2.0, -3.5]))
    assert hkd_15[4].startswith(interval([-5.0, -5.5, -4.5]))
    assert hkd_15[5] == "4.0 |"  # two 60 s epochs and a 120 s stage before them
    hkd_30 = next(x for x in lines if x.startswith("| hkd | 30 |")).split(" | ")
    assert hkd_30[3].startswith(interval([1.0, -0.5, 2.5]))  # against the 30-epoch CE
    assert hkd_30[4].startswith(interval([-1.0, -3.0, -1.0]))
    ce_30 = next(x for x in lines if x.startswith("| ce | 30 |")).split(" | ")
    assert ce_30[3] == "" and ce_30[5] == "4.0 |"
    assert "- unrecorded: ce@15, ce@30, kd@15" in "\n".join(lines)
    assert (tmp_path / "axis.png").stat().st_size > 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["15", "--rows", "kd"], "is not LABEL=FOLDER"),
        (["15={short}", "--rows", "hkd"], "unfinished or missing runs"),
        (["15={short}", "--rows", "kd", "--seeds", "0"], "at least two --seeds"),
    ],
)
def test_bad_arguments_are_named(tmp_path, load_benchmark, capsys, arguments, message):
    axis = load_benchmark("axis")
    short = tmp_path / "short"
    finished(short, "ce", [80.0, 81.0, 83.0])
    finished(short, "kd", [82.0, 84.0, 84.5])
    arguments = [a.format(short=short) for a in arguments]
    with pytest.raises(SystemExit):
        axis.main([*arguments, "--out", str(tmp_path / "axis")])
    assert message in capsys.readouterr().err
