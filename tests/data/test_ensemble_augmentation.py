"""The light, weak and strong augmentations of the ensemble study."""

import pytest
import torch
from torchvision import transforms

from graphkd.data import Cutout, ensemble_augmentation, light_augmentation


def test_light_is_a_bicubic_random_resized_crop_of_area_0_2_to_1():
    crop = light_augmentation(28)
    assert isinstance(crop, transforms.RandomResizedCrop) and crop.size == (28, 28)
    assert crop.scale == (0.2, 1.0)
    assert crop.interpolation == transforms.InterpolationMode.BICUBIC


def test_weak_and_strong_compose_the_reference_steps():
    weak = ensemble_augmentation("weak", 32).transforms
    assert [type(t) for t in weak] == [
        transforms.RandomResizedCrop,
        transforms.RandomHorizontalFlip,
        transforms.RandomRotation,
    ]
    assert weak[2].degrees == [-15.0, 15.0]
    assert weak[0].scale == (0.2, 1.0)
    assert weak[0].interpolation == transforms.InterpolationMode.BICUBIC
    strong = ensemble_augmentation("strong", 32).transforms
    # strong: the same crop and flip, then AutoAugment and Cutout; no rotation
    assert [type(t) for t in strong[:2]] == [type(t) for t in weak[:2]] and len(strong) == 3
    assert not any(isinstance(t, transforms.RandomRotation) for t in strong)
    extra = strong[2].transforms
    assert isinstance(extra[0], transforms.AutoAugment) and isinstance(extra[1], Cutout)
    assert extra[0].policy == transforms.AutoAugmentPolicy.CIFAR10 and extra[0].fill == 128
    assert extra[1].size == 16


def test_strong_fills_uncovered_pixels_with_grey():
    """An image of zeros shifted or sheared by AutoAugment shows 128 where it moved."""
    image = torch.zeros(3, 32, 32, dtype=torch.uint8)
    grey = 0
    for seed in range(40):
        torch.manual_seed(seed)
        grey += int((ensemble_augmentation("strong", 32)(image) == 128).sum())
    assert grey > 0


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("strength", ["weak", "strong"])
def test_augmentations_keep_shape_and_dtype(strength, channels):
    image = torch.randint(0, 256, (channels, 28, 28), dtype=torch.uint8)
    out = ensemble_augmentation(strength, 28)(image)
    assert out.shape == image.shape and out.dtype == torch.uint8


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="weak, strong"):
        ensemble_augmentation("medium", 32)
    with pytest.raises(ValueError, match="size >= 1"):
        light_augmentation(0)
