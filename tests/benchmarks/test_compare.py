"""benchmarks/compare.py: rows from several folders, paired differences per reference."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats


def finished(folder, method, accuracies):
    for seed, accuracy in enumerate(accuracies):
        run = folder / f"seed{seed}" / method
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text(f"epoch,test_acc\n1,50.0\n2,{accuracy}\n")
        (run / "model.pt").write_text("weights")


def test_rows_are_paired_with_their_own_reference(tmp_path, load_benchmark):
    compare = load_benchmark("compare")
    finished(tmp_path / "base", "ce", [80.0, 81.0, 83.0])
    finished(tmp_path / "base", "hkd", [77.0, 79.0, 79.5])
    finished(tmp_path / "long", "ce", [85.0, 85.5, 84.0])
    finished(tmp_path / "long", "hkd", [84.0, 84.5, 84.5])
    out = tmp_path / "table.md"
    compare.main(
        [
            f"ce={tmp_path / 'base'}:ce",
            f"hkd={tmp_path / 'base'}:hkd",
            f"ce_long={tmp_path / 'long'}:ce",
            f"hkd_long={tmp_path / 'long'}:hkd,vs=ce_long",
            "--seeds",
            "0",
            "1",
            "2",
            "--out",
            str(out),
        ]
    )
    lines = out.read_text().splitlines()
    differences = [-3.0, -2.0, -3.5]  # hkd - ce per seed
    mean = sum(differences) / 3
    half = scipy_stats.t.ppf(0.975, 2) * scipy_stats.tstd(differences) / 3**0.5
    hkd = next(x for x in lines if x.startswith("| hkd |"))
    assert hkd == (
        f"| hkd | 78.50 +- 1.32 | ce | {mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]* |"
    )
    assert next(x for x in lines if x.startswith("| ce |")) == "| ce | 81.33 +- 1.53 |  |  |"
    assert next(x for x in lines if x.startswith("| hkd_long |")).startswith(
        "| hkd_long | 84.33 +- 0.29 | ce_long | -0.50 ["
    )
    assert next(x for x in lines if x.startswith("| ce_long |")).split("|")[3].strip() == "ce"


@pytest.mark.parametrize(
    "row, message",
    [
        ("hkd", "is not NAME=FOLDER:METHOD"),
        ("hkd=folder", "is not NAME=FOLDER:METHOD"),
        ("hkd=folder:hkd,against=ce", "is not NAME=FOLDER:METHOD"),
        ("hkd={base}:hkd,vs=nothing", "compared with 'nothing', which is no row"),
        ("hkd={base}:kd", "unfinished or missing runs"),
    ],
)
def test_bad_rows_are_named(tmp_path, load_benchmark, capsys, row, message):
    compare = load_benchmark("compare")
    finished(tmp_path / "base", "hkd", [77.0, 79.0, 79.5])
    started = tmp_path / "base" / "seed0" / "kd"
    started.mkdir(parents=True)
    (started / "metrics.csv").write_text("epoch,test_acc\n1,50.0\n")  # not finished
    with pytest.raises(SystemExit):
        compare.main([row.format(base=tmp_path / "base")])
    assert message in capsys.readouterr().err


def test_committed_runs_without_weights_count_when_their_log_reaches_the_last_epoch(
    tmp_path, load_benchmark
):
    """A fresh checkout has metrics.csv and config.yaml but no model.pt: the run counts
    as finished when its log reaches the optim.epochs of its own config."""
    compare = load_benchmark("compare")
    for method, last in (("ce", 2), ("kd", 2), ("hkd", 1)):
        run = tmp_path / "seed0" / method
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("optim:\n  epochs: 2\n")
        rows = "".join(f"{epoch},{80.0 + epoch}\n" for epoch in range(1, last + 1))
        (run / "metrics.csv").write_text("epoch,test_acc\n" + rows)
    out = tmp_path / "table.md"
    compare.main([f"ce={tmp_path}:ce", f"kd={tmp_path}:kd", "--seeds", "0", "--out", str(out)])
    assert "| kd | 82.00 | ce |  |" in out.read_text()  # one seed: no spread, no interval
    with pytest.raises(SystemExit):
        compare.main([f"hkd={tmp_path}:hkd", "--seeds", "0", "--out", str(out)])
