"""The image-folder dataset: classes and sizes from the tree, ImageNet transforms, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from graphkd.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFolder,
    WithIndex,
    create_dataset,
    dataset_info,
)
from graphkd.engine.method_setup import dataset_labels, two_view_transform


def _normalised(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 ``(3, H, W)`` -> ImageNet-normalised float, written out by hand."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (pixels.float() / 255 - mean) / std


def _pixels(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy())


def test_info_counted_from_the_tree(image_tree) -> None:
    info = dataset_info("image_folder", image_tree, image_size=12)
    assert (info.num_classes, info.in_channels, info.image_size) == (3, 3, 12)
    assert (info.train_size, info.test_size) == (9, 6)
    assert (info.mean, info.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert (info.train_crop, info.test_resize) == ("resized", 14)  # round(12 * 8 / 7)
    assert dataset_info("image_folder", image_tree).test_resize == 256  # 224 crops


def test_labels_follow_the_training_folders(image_tree) -> None:
    (image_tree / "val" / "cat").rename(image_tree / "cat-elsewhere")  # val: dog, owl only
    test = ImageFolder(image_tree, train=False)
    assert test.classes == ["cat", "dog", "owl"]
    assert sorted(set(test.targets)) == [1, 2]
    assert len(test) == 4 and ImageFolder.describe(image_tree).test_size == 4
    image, label = test[0]
    assert image.mode == "RGB" and label == test.targets[0]


def test_greyscale_png_is_read_as_rgb(image_tree) -> None:
    data = ImageFolder(image_tree, train=True)
    path, _ = next(s for s in data.samples if s[0].endswith(".png"))
    image, _ = data[[p for p, _ in data.samples].index(path)]
    assert image.mode == "RGB"
    grey = torch.from_numpy(np.asarray(Image.open(path)).copy())
    assert grey.dim() == 2 and torch.equal(_pixels(path)[..., 1], grey)


def test_test_transform_resizes_and_centre_crops(image_tree) -> None:
    test = create_dataset("image_folder", image_tree, train=False, image_size=8)
    path, _ = test.samples[0]
    image, _ = test[0]
    pixels = _pixels(path).permute(2, 0, 1)  # (3, 16, 20)
    side = round(8 * 8 / 7)  # 9: the shorter edge (16) goes to 9, the longer to 9 * 20 / 16
    resized = F.interpolate(
        pixels[None].float(),
        size=(side, int(side * 20 / 16)),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )[0]
    resized = resized.round().clamp(0, 255).to(torch.uint8)
    top, left = round((side - 8) / 2), round((int(side * 20 / 16) - 8) / 2)
    expected = _normalised(resized[:, top : top + 8, left : left + 8])
    assert image.shape == (3, 8, 8)
    assert torch.allclose(image, expected, atol=2 / 255 / min(IMAGENET_STD))


def test_train_transform_is_a_resized_crop_and_flip(image_tree) -> None:
    train = create_dataset("image_folder", image_tree, train=True, image_size=6)
    path, _ = train.samples[0]
    pixels = _pixels(path).permute(2, 0, 1)
    for seed in range(3):
        torch.manual_seed(seed)
        top, left, height, width = transforms.RandomResizedCrop.get_params(
            pixels, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
        )
        flip = torch.rand(1) < 0.5
        crop = pixels[:, top : top + height, left : left + width][None].float()
        crop = F.interpolate(crop, size=(6, 6), mode="bilinear", antialias=True)[0]
        crop = crop.round().clamp(0, 255).to(torch.uint8)
        expected = _normalised(crop.flip(-1) if flip else crop)
        torch.manual_seed(seed)
        image, _ = train[0]
        assert torch.allclose(image, expected, atol=2 / 255 / min(IMAGENET_STD))


def test_virtual_view_and_indices(image_tree) -> None:
    info = dataset_info("image_folder", image_tree, image_size=10)
    data = WithIndex(ImageFolder(image_tree, transform=two_view_transform(info), image_size=10))
    (real, virtual), label, index = data[4]
    assert real.shape == virtual.shape == (3, 10, 10)
    assert index == 4 and label == data.targets[4]
    assert torch.equal(dataset_labels(data.dataset), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]))


def test_errors(image_tree, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"<root>/train/<class>/<image>"):
        ImageFolder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        ImageFolder(tmp_path / "nowhere", download=True)
    assert len(ImageFolder(image_tree, download=True)) == len(ImageFolder(image_tree))
    with pytest.raises(ValueError, match="positive int"):
        ImageFolder.describe(image_tree, image_size=0)
    (image_tree / "val" / "emu").mkdir()
    with pytest.raises(ValueError, match=r"lacks: \['emu'\]"):
        ImageFolder(image_tree, train=False)
    with pytest.raises(ValueError, match="data.image_size must be a positive int"):
        dataset_info("cifar100", image_size=0)  # any positive size resizes CIFAR-100
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no class folders"):
        ImageFolder.describe(tmp_path / "empty")
