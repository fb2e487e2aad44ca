"""The dataset registry: names, errors, info, default transforms."""

from __future__ import annotations

import pytest
import torch

from graphkd.data import (
    CIFAR100,
    DATASETS,
    FashionMNIST,
    create_dataset,
    dataset_info,
    list_datasets,
)


def test_names() -> None:
    assert list_datasets() == ["cifar100", "fashion_mnist", "image_folder"]
    assert DATASETS.get("cifar100") is CIFAR100 and DATASETS.get("fashion_mnist") is FashionMNIST


@pytest.mark.parametrize("call", [create_dataset, dataset_info])
def test_unknown_name_lists_valid_ones(call) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist'") as info:
        call("mnist")
    assert "cifar100, fashion_mnist" in str(info.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cifar100", (100, 3, 32, 4, 50000, 10000)),
        ("fashion_mnist", (10, 1, 28, 2, 60000, 10000)),
    ],
)
def test_info(name, expected) -> None:
    info = dataset_info(name)
    assert info.name == name
    got = (
        info.num_classes,
        info.in_channels,
        info.image_size,
        info.crop_padding,
        info.train_size,
        info.test_size,
    )
    assert got == expected


def test_fashion_mnist_normalisation() -> None:
    info = dataset_info("fashion_mnist")
    assert info.mean == (0.2860,) and info.std == (0.3530,)


@pytest.fixture
def fashion_root(tmp_path, monkeypatch, fashion_writer):
    monkeypatch.setattr(FashionMNIST, "system_dir", tmp_path / "no-system-copy")
    images, labels = fashion_writer(tmp_path, True, size=4)
    fashion_writer(tmp_path, False, size=3)
    return tmp_path, images, labels


def test_create_uses_standard_transforms(fashion_root) -> None:
    root, images, _ = fashion_root
    test = create_dataset("fashion_mnist", root=root, train=False)
    assert len(test) == 3
    image, _ = test[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    train = create_dataset("fashion_mnist", root=root, train=True)
    raw = torch.from_numpy(images[0]).float() / 255
    padded = torch.nn.functional.pad(raw, (2, 2, 2, 2))
    candidates = [
        view
        for top in range(5)
        for left in range(5)
        for crop in [(padded[top : top + 28, left : left + 28] - 0.2860) / 0.3530]
        for view in (crop, crop.flip(-1))
    ]
    for seed in range(4):
        torch.manual_seed(seed)
        image, _ = train[0]
        assert any(torch.allclose(image[0], c, atol=1e-6) for c in candidates)


def test_create_with_own_transform_and_options(fashion_root) -> None:
    root, _, labels = fashion_root
    data = create_dataset(
        "fashion_mnist", root=root, transform=lambda image: image.size, target_transform=str
    )
    assert data[1] == ((28, 28), str(int(labels[1])))
    with pytest.raises(TypeError):
        create_dataset("fashion_mnist", root=root, unknown_option=1)
