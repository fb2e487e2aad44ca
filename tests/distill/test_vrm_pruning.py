"""VRM's unreliable-edge pruning on a hand-computed example.

The rule (graphkd's, as ``docs/vrm.rst`` states it): every step, edge ``(i, j)`` of the
inter-sample graph (real sample ``i`` -> virtual sample ``j``, at position ``i B + j``)
scores the joint entropy ``H(p_i) + H(p~_j)`` of the *student's* predictions (softmax of
its raw logits, before adaptor and z-score), and exactly ``floor(m B^2)`` edges of highest
score are dropped, ``m`` = ``drop_fraction``: a floor, not a rounding (0.3 of 16 edges
drops 4, not 5). Where equal scores straddle that count, the earlier edge (smaller
``i B + j``) is dropped first.

The example, B = 4 samples and C = 3 classes in float64, uses four predictions whose
entropies are exact (a logit of -1e4 gives a probability of exactly 0 in float64):

========================  ==========================  ======================
logits                    probabilities               entropy (nats)
========================  ==========================  ======================
(0, -1e4, -1e4)           (1, 0, 0)                   0
(0, 0, -1e4)              (1/2, 1/2, 0)               ln 2 = 0.693147
(ln 2, 0, 0)              (1/2, 1/4, 1/4)             1.5 ln 2 = 1.039721
(0, 0, 0)                 (1/3, 1/3, 1/3)             ln 3 = 1.098612
========================  ==========================  ======================

Real view entropies (0, ln 3, ... per row i) and virtual view entropies (per column j):

- real: H = [ln 3, 0, ln 2, 1.5 ln 2]
- virtual: H~ = [ln 2, ln 3, 0, ln 2]

so the joint entropies ``S[i, j] = H_i + H~_j`` are (position ``4 i + j`` in brackets)::

    i=0: 1.791759 [0]  2.197225 [1]  1.098612 [2]  1.791759 [3]
    i=1: 0.693147 [4]  1.098612 [5]  0.000000 [6]  0.693147 [7]
    i=2: 1.386294 [8]  1.791759 [9]  0.693147 [10] 1.386294 [11]
    i=3: 1.732868 [12] 2.138333 [13] 1.039721 [14] 1.732868 [15]

Ranked from the highest: [1] 2.197225, [13] 2.138333, then the three-way tie ln 3 + ln 2 =
1.791759 at [0], [3], [9], then 1.732868 at [12], [15], then 2 ln 2 = 1.386294 at [8],
[11], ...

- ``drop_fraction=0``: floor(0) = 0 edges dropped;
- ``drop_fraction=0.25``: floor(4) = 4: [1], [13] and two of the tie at 1.791759, the
  earlier ones [0] and [3] ([9] is kept);
- ``drop_fraction=0.3``: floor(4.8) = 4, the same four;
- ``drop_fraction=0.5``: floor(8) = 8: [1], [13], [0], [3], [9], [12], [15] and, of the tie
  at 1.386294, [8] ([11] is kept).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from graphkd import Responses
from graphkd.distill.presets.vrm import RealVirtualGraphs, VRMDistiller
from graphkd.graphs import percentile_mask, prediction_entropy

LN2, LN3 = math.log(2.0), math.log(3.0)
CERTAIN = (0.0, -1e4, -1e4)  # entropy 0
TWO_WAY = (0.0, 0.0, -1e4)  # ln 2
HALF_QUARTERS = (LN2, 0.0, 0.0)  # 1.5 ln 2
UNIFORM = (0.0, 0.0, 0.0)  # ln 3

REAL = [UNIFORM, CERTAIN, TWO_WAY, HALF_QUARTERS]
VIRTUAL = [TWO_WAY, UNIFORM, CERTAIN, TWO_WAY]
#: S[i, j] = H(p_i) + H(p~_j), written out by hand.
JOINT = [
    [1.791759, 2.197225, 1.098612, 1.791759],
    [0.693147, 1.098612, 0.000000, 0.693147],
    [1.386294, 1.791759, 0.693147, 1.386294],
    [1.732868, 2.138333, 1.039721, 1.732868],
]
#: Positions i B + j of the dropped edges, per drop fraction.
DROPPED = {
    0.0: [],
    0.25: [0, 1, 3, 13],
    0.3: [0, 1, 3, 13],
    0.5: [0, 1, 3, 8, 9, 12, 13, 15],
}


def student(real=REAL, virtual=VIRTUAL):
    def logits(rows):
        return torch.tensor(rows, dtype=torch.float64)

    return Responses(logits(real), virtual=Responses(logits(virtual)))


def teacher(seed=0):
    generator = torch.Generator().manual_seed(seed)
    real, virtual = (torch.randn(4, 3, generator=generator, dtype=torch.float64) for _ in "rv")
    return Responses(real, virtual=Responses(virtual))


def dropped(keep):
    return torch.nonzero(~keep.reshape(-1)).flatten().tolist()


def test_the_hand_computed_entropies():
    rows = [CERTAIN, TWO_WAY, HALF_QUARTERS, UNIFORM]
    entropies = prediction_entropy(torch.tensor(rows, dtype=torch.float64))
    expected = torch.tensor([0.0, LN2, 1.5 * LN2, LN3], dtype=torch.float64)
    torch.testing.assert_close(entropies, expected, rtol=0, atol=1e-12)
    real = prediction_entropy(student().logits)
    virtual = prediction_entropy(student().virtual.logits)
    joint = real[:, None] + virtual[None, :]
    torch.testing.assert_close(joint, torch.tensor(JOINT, dtype=torch.float64), atol=5e-7, rtol=0)


@pytest.mark.parametrize("fraction", sorted(DROPPED))
def test_pruning_drops_exactly_the_highest_joint_entropy_edges(fraction):
    builder = RealVirtualGraphs(drop_fraction=fraction)
    keep = builder.keep(student())  # the Gram path's (B, B) mask
    assert dropped(keep) == DROPPED[fraction]
    assert int((~keep).sum()) == math.floor(fraction * 16)
    # every dropped edge scores at least as high as every kept one
    score = torch.tensor(JOINT).reshape(-1)
    if DROPPED[fraction]:
        assert score[~keep.reshape(-1)].min() >= score[keep.reshape(-1)].max()
    # the explicit path's graph carries the same mask on the edge at position i B + j
    isv = builder(student())["isv"]
    assert torch.equal(isv.edata["keep"], keep.reshape(-1))
    src, dst = isv.src.tolist(), isv.dst.tolist()
    assert [(s, d - 4) for s, d in zip(src, dst)] == [(i, j) for i in range(4) for j in range(4)]


def test_the_count_is_a_floor_of_the_fraction_of_edges():
    score = torch.tensor(JOINT, dtype=torch.float64).reshape(-1)
    counts = {m: int((~percentile_mask(score, m)).sum()) for m in (0.05, 0.1, 0.3, 0.49, 0.5)}
    assert counts == {0.05: 0, 0.1: 1, 0.3: 4, 0.49: 7, 0.5: 8}
    # 0.29 of 100 edges is 29 (the float product 28.999999999999996 must not floor to 28)
    assert int((~percentile_mask(torch.arange(100.0), 0.29)).sum()) == 29
    assert int((~percentile_mask(torch.arange(100.0), 0.57)).sum()) == 57


def test_the_mask_follows_the_students_raw_logits_only():
    """Neither the teacher, nor the adaptor, nor the z-scoring changes which edges go."""
    method = VRMDistiller(adaptor=False, drop_fraction=0.5)
    for seed in (0, 1):
        _, graphs = method.build_graphs(teacher(seed), student())
        assert dropped(graphs["isv"].edata["keep"]) == DROPPED[0.5]
    adaptor = torch.nn.Linear(3, 3).double()
    with torch.no_grad():
        adaptor.weight.copy_(torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]]))
        adaptor.bias.fill_(5.0)
    builder = RealVirtualGraphs(adaptor=adaptor, zscore=False, drop_fraction=0.5)
    assert dropped(builder.keep(student())) == DROPPED[0.5]
    # other student predictions, other edges: with the real rows reversed, S's rows are
    # reversed: [13] 2.197, [1] 2.138, [5] [12] [15] 1.792, [0] [3] 1.733, and of the tie
    # at 1.386 ([4], [7]) the earlier
    reversed_real = student(real=REAL[::-1])
    expected = [0, 1, 3, 4, 5, 12, 13, 15]
    assert dropped(RealVirtualGraphs(drop_fraction=0.5).keep(reversed_real)) == expected


@pytest.mark.parametrize("path", ["gram", "explicit"])
def test_the_isv_loss_averages_over_the_kept_edges_only(path):
    # without z-scoring: z-scored, (ln 2, 0, 0) and (0, -1e4, -1e4) differ by 3e-7 only, an
    # edge the Gram path counts as coincident (see its docs) and the explicit one does not
    method = VRMDistiller(adaptor=False, drop_fraction=0.5, icv=False, zscore=False, path=path)
    out = method(teacher(), student())

    def edges(responses):
        real, virtual = responses.logits, responses.virtual.logits
        difference = real[:, None] - virtual[None, :]
        # (0 where the endpoints coincide, e.g. real 1 and virtual 2, both certain)
        length = difference.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return (difference / length).reshape(16, 3)

    kept = [e for e in range(16) if e not in DROPPED[0.5]]
    expected = (edges(student())[kept] - edges(teacher())[kept]).square().mean()
    torch.testing.assert_close(out["isv"], expected, rtol=1e-10, atol=1e-12)


def test_the_vrm_page_states_the_same_rule():
    page = (Path(__file__).parents[2] / "docs" / "vrm.rst").read_text()
    section = page[page.index("Unreliable-edge pruning") : page.index("The loss\n")]
    text = " ".join(section.split())
    assert ":math:`\\lfloor m B^2 \\rfloor` edges of highest joint entropy are dropped" in text
    assert "smaller :math:`i B + j`" in text  # ties: the earlier edge is dropped first
    assert "(raw logits, before adaptor and z-score)" in text
