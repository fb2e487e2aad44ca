"""attention_iou: pooled IoU per batch, batch-size-weighted over batches."""

import pytest
import torch

from graphkd.analysis import DEFAULT_THRESHOLD, attention_iou


def test_identical_maps_give_one_and_disjoint_maps_zero():
    maps = torch.rand(3, 8, 8)
    maps[:, 0, 0] = 1.0
    assert attention_iou(maps, maps.clone()) == 1.0
    left = torch.zeros(2, 4, 4)
    left[:, :, :2] = 1.0
    assert attention_iou(left, left.flip(-1)) == 0.0


def test_intersections_and_unions_are_pooled_over_the_batch():
    a = torch.zeros(2, 2, 2)
    b = torch.zeros(2, 2, 2)
    a[0, 0, :] = 1.0  # image 0: a = 2 pixels, b = 1 of them -> 1 / 2
    b[0, 0, 0] = 1.0
    a[1] = 1.0  # image 1: a = 4 pixels, b = 1 of them -> 1 / 4
    b[1, 1, 1] = 1.0
    assert attention_iou(a, b) == pytest.approx((1 + 1) / (2 + 4))


def test_threshold_is_inclusive_and_defaults_to_0_4():
    assert DEFAULT_THRESHOLD == 0.4
    a = torch.tensor([[[0.4, 0.39]]])
    b = torch.tensor([[[0.4, 0.4]]])
    assert attention_iou(a, b) == pytest.approx(0.5)
    assert attention_iou(a, b, threshold=0.3) == 1.0


def test_batches_are_weighted_by_their_size():
    full, empty = torch.ones(3, 2, 2), torch.zeros(3, 2, 2)
    one, half = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    half[0, 0] = 1.0
    # batch 1: IoU 0 (3 images); batch 2: IoU 1/2 (1 image)
    assert attention_iou([full, one], [empty, half]) == pytest.approx((3 * 0 + 1 * 0.5) / 4)


def test_two_empty_regions_agree():
    assert attention_iou(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3)) == 1.0


@pytest.mark.parametrize(
    "a, b, message",
    [
        (torch.zeros(2, 4, 4), torch.zeros(2, 4, 5), "same images"),
        ([torch.zeros(2, 4, 4)], [], "no batch"),
        ([torch.zeros(1, 2, 2)] * 2, [torch.zeros(1, 2, 2)], "batches"),
        (torch.zeros(0, 4, 4), torch.zeros(0, 4, 4), "no map"),
    ],
)
def test_bad_input_is_rejected(a, b, message):
    with pytest.raises(ValueError, match=message):
        attention_iou(a, b)
