"""benchmarks/vrm_pruning.py: which ISV edges VRM's pruning drops, counted by hand."""

from __future__ import annotations

import math

import pytest
import torch


def entropy(logits):
    p = [math.exp(x) for x in logits]
    total = sum(p)
    return -sum(q / total * math.log(q / total) for q in p)


def test_counts_match_a_hand_count_of_the_highest_joint_entropy_edges(load_benchmark):
    vrm_pruning = load_benchmark("vrm_pruning")
    real = [[4.0, 0.0, 0.0], [0.2, 0.3, 0.0], [0.0, 1.0, 2.0]]  # sure, unsure, between
    virtual = [[5.0, 0.0, 0.0], [0.5, 0.0, 0.4], [0.0, 0.0, 3.0]]
    teacher = [[3.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 1.0, 2.0]]
    labels = [0, 0, 1]  # the student is wrong on samples 1 and 2, the teacher on 2
    scores = {(i, j): entropy(real[i]) + entropy(virtual[j]) for i in range(3) for j in range(3)}
    dropped = set(sorted(scores, key=scores.get, reverse=True)[:3])  # floor(9 / 3) edges
    student_wrong = {i for i in range(3) if max(range(3), key=real[i].__getitem__) != labels[i]}
    teacher_right = {i for i in range(3) if max(range(3), key=teacher[i].__getitem__) == labels[i]}
    assert student_wrong == {1, 2} and teacher_right == {0, 1}
    counts = vrm_pruning.count_edges(
        torch.tensor(real),
        torch.tensor(virtual),
        torch.tensor(teacher),
        torch.tensor(labels),
        1 / 3,
    )
    wrong_dropped = sum(1 for i, _ in dropped if i in student_wrong)
    assert counts == vrm_pruning.EdgeCounts(
        dropped=3,
        kept=6,
        wrong_dropped=wrong_dropped,
        wrong_kept=6 - wrong_dropped,  # 2 wrong samples x 3 edges, the rest kept
        teacher_right_wrong_dropped=sum(
            1 for i, _ in dropped if i in student_wrong and i in teacher_right
        ),
    )
    total = vrm_pruning.EdgeCounts()
    total += counts
    total += counts
    shares = total.shares()
    assert shares[0] == pytest.approx(wrong_dropped / 3)
    assert shares[1] == pytest.approx((6 - wrong_dropped) / 6)
    assert shares[2] == pytest.approx(wrong_dropped / 6)


def test_a_share_of_nothing_is_nan_and_unfinished_runs_are_named(tmp_path, load_benchmark, capsys):
    vrm_pruning = load_benchmark("vrm_pruning")
    assert all(math.isnan(share) for share in vrm_pruning.EdgeCounts().shares())
    with pytest.raises(SystemExit):
        vrm_pruning.main([str(tmp_path)])
    assert "no model.pt in" in capsys.readouterr().err


def test_the_missing_file_is_named_per_folder(tmp_path, load_benchmark, capsys):
    vrm_pruning = load_benchmark("vrm_pruning")
    weights_only, config_only = tmp_path / "a", tmp_path / "b"
    weights_only.mkdir()
    config_only.mkdir()
    (weights_only / "model.pt").write_bytes(b"")
    (config_only / "config.yaml").write_text("")
    with pytest.raises(SystemExit):
        vrm_pruning.main([str(weights_only), str(config_only)])
    error = capsys.readouterr().err
    assert f"no config.yaml in {weights_only}" in error
    assert f"no model.pt in {config_only}" in error
    assert f"no model.pt in {weights_only}" not in error
    assert f"no config.yaml in {config_only}" not in error
