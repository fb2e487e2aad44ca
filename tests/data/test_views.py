"""View transforms: references, seeding and the (real, virtual) pair."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from graphkd.data import (
    Cutout,
    TwoViewDataset,
    TwoViews,
    WithIndex,
    auto_augment_cutout,
    dataset_info,
    rand_augment,
    weak_augmentation,
)


@pytest.fixture
def image() -> torch.Tensor:
    return torch.randint(
        0, 256, (3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def crops_and_flips(image: torch.Tensor, size: int, padding: int) -> list:
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    side = padded.shape[-1]
    out = []
    for top in range(side - size + 1):
        for left in range(side - size + 1):
            crop = padded[:, top : top + size, left : left + size]
            out += [crop, crop.flip(-1)]
    return out


def test_weak_augmentation_is_crop_and_flip(image) -> None:
    candidates = crops_and_flips(image, 12, 2)
    outputs = set()
    for seed in range(30):
        torch.manual_seed(seed)
        out = weak_augmentation(12, 2)(image)
        assert any(torch.equal(out, c) for c in candidates)
        outputs.add(out.numpy().tobytes())
    assert len(outputs) > 10


def test_weak_augmentation_on_pil() -> None:
    out = weak_augmentation(8, 1)(Image.new("L", (8, 8)))
    assert isinstance(out, Image.Image) and out.size == (8, 8)


def test_rand_augment_settings() -> None:
    default = rand_augment()
    assert isinstance(default, transforms.RandAugment)
    assert (default.num_ops, default.magnitude) == (2, 9)
    assert (rand_augment(3, 5).num_ops, rand_augment(3, 5).magnitude) == (3, 5)


def test_auto_augment_cutout_settings() -> None:
    steps = auto_augment_cutout(10).transforms
    assert isinstance(steps[0], transforms.AutoAugment)
    assert steps[0].policy == transforms.AutoAugmentPolicy.CIFAR10
    assert isinstance(steps[1], Cutout) and steps[1].size == 10
    assert steps[0].fill == 128 and auto_augment_cutout(10, fill=0).transforms[0].fill == 0


@pytest.mark.parametrize(
    "build",
    [lambda: weak_augmentation(12, 2), rand_augment, lambda: auto_augment_cutout(6)],
    ids=["weak", "randaugment", "autoaugment_cutout"],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_deterministic_under_seed(build, channels) -> None:
    image = torch.randint(0, 256, (channels, 12, 12), dtype=torch.uint8)
    transform = build()
    runs = []
    for seed in (0, 0, 1, 2, 3, 4):
        torch.manual_seed(seed)
        runs.append(transform(image))
    assert all(r.shape == image.shape and r.dtype == torch.uint8 for r in runs)
    assert torch.equal(runs[0], runs[1])
    assert any(not torch.equal(runs[0], r) for r in runs[2:])


def test_auto_augment_cutout_needs_tensors() -> None:
    with pytest.raises(ValueError, match="PILToTensor"):
        auto_augment_cutout()(Image.new("RGB", (32, 32)))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: weak_augmentation(0, 1), "size >= 1"),
        (lambda: weak_augmentation(8, -1), "padding >= 0"),
        (lambda: rand_augment(magnitude=31), "magnitude <= 30"),
        (lambda: rand_augment(n=-1), "n >= 0"),
    ],
)
def test_bad_arguments(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_two_views_order_and_seed() -> None:
    info = dataset_info("cifar100")
    real_transform = info.train_transform()
    virtual_transform = info.transform(rand_augment())
    views = TwoViews(real_transform, virtual_transform)
    pil = Image.fromarray(torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8).numpy())
    torch.manual_seed(7)
    real, virtual = views(pil)
    torch.manual_seed(7)
    expected_real = real_transform(pil)
    expected_virtual = virtual_transform(pil)
    assert torch.equal(real, expected_real) and torch.equal(virtual, expected_virtual)
    assert real.shape == virtual.shape == (3, 32, 32)
    torch.manual_seed(8)
    other_real, other_virtual = views(pil)
    assert not (torch.equal(real, other_real) and torch.equal(virtual, other_virtual))


def test_two_view_dataset_collates_with_index() -> None:
    base = TensorDataset(torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8), torch.arange(5))
    data = WithIndex(TwoViewDataset(base, weak_augmentation(8, 1), auto_augment_cutout(4)))
    assert len(data) == 5

    def batches(seed: int) -> list:
        torch.manual_seed(seed)
        return list(DataLoader(data, batch_size=2))

    first, again = batches(0), batches(0)
    (real, virtual), labels, index = first[0]
    assert real.shape == virtual.shape == (2, 1, 8, 8)
    assert labels.tolist() == [0, 1] and index.tolist() == [0, 1]
    for (views_a, _, _), (views_b, _, _) in zip(first, again):
        assert torch.equal(views_a[0], views_b[0]) and torch.equal(views_a[1], views_b[1])
