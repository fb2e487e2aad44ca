"""data.augmentation "timm" and data.image_size for fixed-size datasets."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from graphkd.data import (
    AUGMENTATIONS,
    CIFAR100,
    SeededSamples,
    TimmAugmentation,
    create_dataset,
    dataset_info,
)


def _image(seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (32, 32, 3) if mode == "RGB" else (28, 28)
    return Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode)


def test_timm_is_an_augmentation_name():
    assert "timm" in AUGMENTATIONS


def test_a_missing_timm_names_pip_install_timm(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm.data", None)  # import timm.data fails
    with pytest.raises(ImportError, match="data.augmentation 'timm' .* pip install timm"):
        CIFAR100.info.train_transform("timm")


def test_a_resized_fixed_size_dataset_crops_and_evaluates_at_its_new_size():
    info = dataset_info("cifar100", image_size=64)
    assert (info.image_size, info.train_crop, info.test_resize) == (64, "resized", 64)
    assert dataset_info("cifar100", image_size=32) is CIFAR100.info
    torch.manual_seed(0)
    assert info.train_transform()(_image()).shape == (3, 64, 64)
    test = info.test_transform()(_image())
    assert test.shape == (3, 64, 64)
    reference = CIFAR100.info.test_transform()(_image().resize((64, 64), Image.BILINEAR))
    assert (test - reference).abs().max() < 0.05  # a bilinear upsampling, as PIL's
    assert dataset_info("fashion_mnist", image_size=16).test_transform()(
        _image(mode="L")
    ).shape == (1, 16, 16)


@pytest.mark.parametrize("size", [0, -3, "224", True])
def test_an_invalid_image_size_names_the_key(size):
    with pytest.raises(ValueError, match="data.image_size must be a positive int"):
        dataset_info("cifar100", image_size=size)


def test_the_cifar_training_split_takes_an_image_size(cifar_root):
    root, _ = cifar_root
    data = create_dataset("cifar100", root, image_size=48, verify_checksums=False)
    assert data[0][0].shape == (3, 48, 48)


class TestWithTimm:
    """The transform itself (skipped without timm)."""

    @pytest.fixture(autouse=True)
    def _timm(self):
        pytest.importorskip("timm")

    def test_it_is_li_et_als_transform_at_the_image_size(self):
        info = dataset_info("cifar100", image_size=40)
        augment = info.train_transform("timm")
        assert isinstance(augment, TimmAugmentation)
        text = repr(augment)
        for part in (
            "RandomResizedCropAndInterpolation(size=(40, 40), scale=(0.08, 1.0)",
            "interpolation=bicubic",
            "RandomHorizontalFlip(p=0.5)",
            "RandAugment(n=2",
            "AugmentOp(name=PosterizeIncreasing, p=0.5, m=9, mstd=0.5)",
            "RandomErasing(p=0.25, mode=pixel, count=(1, 1))",
        ):
            assert part in text, part
        assert "ColorJitter" not in text  # timm turns colour jitter off under RandAugment
        mean, std = info.mean, info.std
        assert f"Normalize(mean=tensor([{mean[0]:.4f}, {mean[1]:.4f}, {mean[2]:.4f}])" in text
        assert f"std=tensor([{std[0]:.4f}, {std[1]:.4f}, {std[2]:.4f}])" in text
        torch.manual_seed(0)
        view = augment(_image())
        assert view.shape == (3, 40, 40) and view.dtype == torch.float32

    def test_views_repeat_under_the_torch_seed_and_leave_python_and_numpy_alone(self):
        augment = TimmAugmentation(24, CIFAR100.info.mean, CIFAR100.info.std)
        random.seed(5)
        np.random.seed(5)
        before = random.random(), np.random.rand()
        random.seed(5)
        np.random.seed(5)
        torch.manual_seed(1)
        views = [augment(_image()) for _ in range(4)]
        assert (random.random(), np.random.rand()) == before
        torch.manual_seed(1)
        assert all(torch.equal(a, augment(_image())) for a in views)
        assert not all(torch.equal(views[0], v) for v in views[1:])

    def test_per_sample_seeds_make_views_independent_of_the_order(self):
        class Images(torch.utils.data.Dataset):
            def __init__(self):
                self.augment = TimmAugmentation(16, CIFAR100.info.mean, CIFAR100.info.std)

            def __len__(self):
                return 3

            def __getitem__(self, index):
                return self.augment(_image(index))

        data = SeededSamples(Images(), seed=0)
        forward = [data[i] for i in range(3)]
        backward = [data[i] for i in reversed(range(3))][::-1]
        assert all(torch.equal(a, b) for a, b in zip(forward, backward))

    def test_grey_images_take_it_with_their_own_mean_and_std(self):
        info = dataset_info("fashion_mnist", image_size=32)
        torch.manual_seed(0)
        assert info.train_transform("timm")(_image(mode="L")).shape == (1, 32, 32)
