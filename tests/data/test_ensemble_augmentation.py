"""The light, weak and strong augmentations of the ensemble study."""

import pytest
import torch
from torchvision import transforms

from graphkd.data import Cutout, ensemble_augmentation, light_augmentation


def test_light_is_a_random_resized_crop_to_the_side():
    crop = light_augmentation(28)
    assert isinstance(crop, transforms.RandomResizedCrop) and crop.size == (28, 28)


def test_weak_and_strong_compose_the_reference_steps():
    weak = ensemble_augmentation("weak", 32).transforms
    assert [type(t) for t in weak] == [
        transforms.RandomResizedCrop,
        transforms.RandomHorizontalFlip,
        transforms.RandomRotation,
    ]
    assert weak[2].degrees == [-15.0, 15.0]
    strong = ensemble_augmentation("strong", 32).transforms
    assert [type(t) for t in strong[:3]] == [type(t) for t in weak]
    extra = strong[3].transforms
    assert isinstance(extra[0], transforms.AutoAugment) and isinstance(extra[1], Cutout)
    assert extra[1].size == 16


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
