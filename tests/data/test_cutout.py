"""Cutout against a brute-force enumeration of all clipped squares."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from graphkd.data import Cutout


def all_cutout_masks(height: int, width: int, size: int) -> list:
    """Every mask Cutout may produce: the size x size square around each pixel, clipped."""
    masks = []
    for cy in range(height):
        for cx in range(width):
            mask = torch.zeros(height, width, dtype=torch.bool)
            for i in range(cy - size // 2, cy - size // 2 + size):
                for j in range(cx - size // 2, cx - size // 2 + size):
                    if 0 <= i < height and 0 <= j < width:
                        mask[i, j] = True
            masks.append(mask)
    return masks


@pytest.mark.parametrize("size", [1, 2, 3, 6])
def test_blanks_one_clipped_square(size: int) -> None:
    height, width = 5, 7
    masks = all_cutout_masks(height, width, size)
    image = torch.randint(1, 256, (3, height, width), dtype=torch.uint8)
    before = image.clone()
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        out = Cutout(size)(image)
        assert out.dtype == torch.uint8 and out.shape == image.shape
        assert torch.equal(image, before)  # input untouched
        blank = (out == 0).all(0)
        assert torch.equal(out[:, ~blank], image[:, ~blank])
        matches = [k for k, mask in enumerate(masks) if torch.equal(mask, blank)]
        assert matches, "blanked region is not a clipped square"
        seen.add(tuple(blank.flatten().tolist()))
    assert len(seen) > 5  # the position is random


def test_fill_and_float_and_batch_dims() -> None:
    torch.manual_seed(0)
    out = Cutout(2, fill=0.5)(torch.ones(2, 3, 4, 4))
    assert torch.equal((out == 0.5).all(1), (out == 0.5).any(1))  # same square on all channels
    assert int((out[0, 0] == 0.5).sum()) in (1, 2, 4)
    assert torch.equal(out[0], out[1])


def test_seeded() -> None:
    image = torch.rand(3, 16, 16)
    torch.manual_seed(3)
    first = Cutout(8)(image)
    torch.manual_seed(3)
    assert torch.equal(first, Cutout(8)(image))


@pytest.mark.parametrize("size", [0, -2, 1.5, True])
def test_bad_size(size) -> None:
    with pytest.raises(ValueError, match="positive int"):
        Cutout(size)


def test_pil_rejected_with_fix() -> None:
    with pytest.raises(ValueError, match="PILToTensor"):
        Cutout(4)(Image.new("RGB", (8, 8)))
