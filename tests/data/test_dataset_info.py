"""DatasetInfo: the transform pipeline against a hand-written reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from graphkd.data import DatasetInfo


def make_info(**changes) -> DatasetInfo:
    fields = dict(
        name="toy",
        num_classes=3,
        in_channels=3,
        image_size=6,
        mean=(0.1, 0.2, 0.3),
        std=(0.5, 0.25, 2.0),
        crop_padding=1,
        train_size=10,
        test_size=5,
    )
    fields.update(changes)
    return DatasetInfo(**fields)


@pytest.fixture
def image() -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def reference(image: Image.Image, info: DatasetInfo) -> torch.Tensor:
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).double() / 255
    mean = torch.tensor(info.mean, dtype=torch.float64)[:, None, None]
    std = torch.tensor(info.std, dtype=torch.float64)[:, None, None]
    return ((x - mean) / std).float()


def test_test_transform_matches_reference(image) -> None:
    info = make_info()
    out = info.test_transform()(image)
    assert out.dtype == torch.float32 and out.shape == (3, 6, 6)
    assert torch.allclose(out, reference(image, info), atol=1e-6)


def test_augmentation_acts_on_uint8_tensor(image) -> None:
    seen = []

    def flip(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.dtype)
        return x.flip(-1)

    info = make_info()
    out = info.transform(flip)(image)
    assert seen == [torch.uint8]
    assert torch.allclose(out, reference(image, info).flip(-1), atol=1e-6)


def test_train_transform_is_random(image) -> None:
    info = make_info()
    outs = []
    for seed in range(8):
        torch.manual_seed(seed)
        outs.append(info.train_transform()(image))
    assert all(o.shape == (3, 6, 6) for o in outs)
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_channel_count_checked() -> None:
    with pytest.raises(ValueError, match="one value per channel"):
        make_info(mean=(0.5,))


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        make_info().num_classes = 4  # type: ignore[misc]


@pytest.mark.parametrize("strength", ["weak", "strong"])
def test_train_transform_of_a_strength_is_the_ensemble_studys_augmentation(image, strength):
    from torchvision import transforms

    from graphkd.data import Cutout

    info = make_info(image_size=6)
    bicubic = transforms.InterpolationMode.BICUBIC
    steps = [
        transforms.PILToTensor(),
        transforms.RandomResizedCrop(6, scale=(0.2, 1.0), interpolation=bicubic, antialias=True),
        transforms.RandomHorizontalFlip(),
    ]
    if strength == "weak":
        steps += [transforms.RandomRotation(15.0)]
    else:
        policy = transforms.AutoAugmentPolicy.CIFAR10
        steps += [transforms.AutoAugment(policy, fill=128), Cutout(16)]
    steps += [transforms.ConvertImageDtype(torch.float32), info.normalize()]
    by_hand = transforms.Compose(steps)
    for seed in range(4):
        torch.manual_seed(seed)
        expected = by_hand(image)
        torch.manual_seed(seed)
        assert torch.equal(info.train_transform(strength)(image), expected)


def test_unknown_train_augmentation_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'medium'.*standard, weak, strong"):
        make_info().train_transform("medium")
