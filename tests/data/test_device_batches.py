"""graphkd.data.device_batches: batched crop, flip, RandAugment and normalisation against
the per-image operations, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Subset
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import _apply_op

from graphkd.data import dataset_info
from graphkd.data.device_batches import DeviceBatches, resident_images

INFO = dataset_info("cifar100")


def images(size=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (size, 3, 32, 32), dtype=torch.uint8, generator=generator)


def test_crop_and_flip_cut_each_sample_out_of_its_padded_image():
    raw = images()
    data = DeviceBatches(raw, torch.zeros(12), INFO)
    out = data.crop_flip(raw, torch.Generator().manual_seed(3))
    draws = torch.Generator().manual_seed(3)
    offsets = torch.randint(0, 9, (2, 12), generator=draws)
    flips = torch.rand(12, generator=draws) < 0.5
    padded = F.pad(raw, (4, 4, 4, 4))
    for b in range(12):
        i, j = offsets[:, b].tolist()
        expected = padded[b, :, i : i + 32, j : j + 32]
        assert torch.equal(out[b], expected.flip(-1) if flips[b] else expected)
    assert 0 < flips.sum() < 12 and len(set(offsets[0].tolist())) > 1


def test_grouped_rand_augment_ops_equal_the_per_image_operation():
    raw = images(28)
    data = DeviceBatches(raw, torch.zeros(28), INFO)
    chosen = torch.arange(28) % 14
    negative = (torch.arange(28) // 14) % 2
    out = data.apply_ops(raw, chosen, negative)
    for b in range(28):
        name, magnitude, signed = data._ops[int(chosen[b])]
        value = -magnitude if signed and negative[b] else magnitude
        expected = _apply_op(raw[b], name, value, InterpolationMode.NEAREST, None)
        assert torch.equal(out[b], expected), name
    assert [op[0] for op in data._ops][:3] == ["Identity", "ShearX", "ShearY"]


def test_rand_augment_draws_two_ops_per_sample():
    raw = images(16)
    data = DeviceBatches(raw, torch.zeros(16), INFO)
    out = data.rand_augment(raw, torch.Generator().manual_seed(5))
    draws = torch.Generator().manual_seed(5)
    expected = raw
    for _ in range(2):
        chosen = torch.randint(0, 14, (16,), generator=draws)
        negative = torch.randint(0, 2, (16,), generator=draws)
        expected = data.apply_ops(expected, chosen, negative)
    assert torch.equal(out, expected) and not torch.equal(out, raw)


def test_batches_follow_the_given_indices_and_normalise_like_the_test_transform():
    raw, labels = images(), torch.arange(12) % 5
    data = DeviceBatches(raw, labels, INFO, virtual=False, channels_last=True)
    order = [torch.tensor([7, 1, 4]), torch.tensor([0, 11, 2])]
    epoch = data.batches(order, seed=0)
    batches = list(epoch)
    assert len(epoch) == 2 and [b[2].tolist() for b in batches] == [[7, 1, 4], [0, 11, 2]]
    assert torch.equal(batches[0][1], labels[order[0]])
    real = batches[0][0]
    assert real.dtype == torch.float32 and real.is_contiguous(memory_format=torch.channels_last)
    mean = torch.tensor(INFO.mean).view(1, 3, 1, 1)
    std = torch.tensor(INFO.std).view(1, 3, 1, 1)
    cropped = data.crop_flip(raw[order[0]], torch.Generator().manual_seed(0))
    torch.testing.assert_close(real, (cropped / 255.0 - mean) / std)  # student seed: 2 * 0


def test_the_student_view_does_not_depend_on_the_virtual_view():
    raw, labels = images(), torch.zeros(12)
    order = [torch.arange(6), torch.arange(6, 12)]
    with_virtual = list(DeviceBatches(raw, labels, INFO, virtual=True).batches(order, seed=4))
    alone = list(DeviceBatches(raw, labels, INFO, virtual=False).batches(order, seed=4))
    for (views, _, _), (real, _, _) in zip(with_virtual, alone):
        assert torch.equal(views[0], real) and not torch.equal(views[1], real)


def test_resident_images_of_grey_colour_and_subset_datasets():
    class Grey:
        data = torch.arange(2 * 28 * 28).remainder(256).to(torch.uint8).view(2, 28, 28)
        targets = torch.tensor([3, 4])

    class Colour:
        data = np.zeros((3, 32, 32, 3), dtype=np.uint8)
        targets = [0, 1, 2]

    grey, labels = resident_images(Subset(Grey(), [1]))
    assert grey.shape == (1, 1, 28, 28) and torch.equal(grey[0, 0], Grey.data[1])
    assert labels.tolist() == [4]
    assert resident_images(Colour())[0].shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="data.on_device"):
        resident_images(torch.utils.data.TensorDataset(torch.zeros(2)))
