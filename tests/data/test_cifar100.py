"""CIFAR-100 on a tiny fake ``cifar-100-python`` folder in torchvision's pickle layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from graphkd.data import CIFAR100, create_dataset

from .fakes import write_cifar100

MEAN = torch.tensor([0.5071, 0.4865, 0.4409])
STD = torch.tensor([0.2673, 0.2564, 0.2762])


@pytest.mark.parametrize(("train", "split", "size"), [(True, "train", 6), (False, "test", 4)])
def test_reads_fake_folder(cifar_root, train, split, size) -> None:
    root, written = cifar_root
    data = CIFAR100(root, train=train, download=False, verify_checksums=False)
    pixels, labels = written[split]
    assert len(data) == size and data.targets == labels
    assert data.classes == [f"fine_{i}" for i in range(100)]
    image, label = data[2]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (32, 32)
    expected = pixels[2].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(np.asarray(image), expected) and label == labels[2]


def test_standard_test_transform(cifar_root) -> None:
    root, written = cifar_root
    data = create_dataset("cifar100", root=root, train=False, verify_checksums=False)
    image, _ = data[1]
    raw = torch.from_numpy(written["test"][0][1].reshape(3, 32, 32)).float() / 255
    assert torch.allclose(image, (raw - MEAN[:, None, None]) / STD[:, None, None], atol=1e-6)


def test_standard_train_transform_is_random_crop_and_flip(cifar_root) -> None:
    root, written = cifar_root
    data = create_dataset("cifar100", root=root, train=True, verify_checksums=False)
    raw = torch.from_numpy(written["train"][0][0].reshape(3, 32, 32)).float() / 255
    normalised = (raw - MEAN[:, None, None]) / STD[:, None, None]
    padded = torch.nn.functional.pad(raw, (4, 4, 4, 4))
    candidates = []
    for top in range(9):
        for left in range(9):
            crop = (padded[:, top : top + 32, left : left + 32] - MEAN[:, None, None]) / STD[
                :, None, None
            ]
            candidates += [crop, crop.flip(-1)]
    outputs = []
    for seed in range(6):
        torch.manual_seed(seed)
        image, _ = data[0]
        outputs.append(image)
        assert any(torch.allclose(image, c, atol=1e-6) for c in candidates)
    assert any(not torch.allclose(o, normalised, atol=1e-6) for o in outputs)


def test_checksums_checked_by_default(cifar_root) -> None:
    root, _ = cifar_root
    with pytest.raises(ValueError, match="MD5") as info:
        CIFAR100(root)
    assert str(root / "cifar-100-python" / "train") in str(info.value)
    assert "verify_checksums=False" in str(info.value)


@pytest.mark.parametrize("missing", ["train", "test", "meta"])
def test_missing_file_says_what_to_do(cifar_root, missing) -> None:
    root, _ = cifar_root
    (root / "cifar-100-python" / missing).unlink()
    with pytest.raises(FileNotFoundError) as info:
        CIFAR100(root, verify_checksums=False)
    assert str(root / "cifar-100-python" / missing) in str(info.value)
    assert "download=True" in str(info.value)


def test_download_path(tmp_path, monkeypatch) -> None:
    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, filename))
        write_cifar100(tmp_path, {"train": 3, "test": 2})

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", fake_download)
    data = CIFAR100(tmp_path, train=False, download=True, verify_checksums=False)
    assert len(data) == 2
    assert calls == [(CIFAR100.url, "cifar-100-python.tar.gz")]
    CIFAR100(tmp_path, train=True, download=True, verify_checksums=False)
    assert len(calls) == 1


def test_offline_download_names_the_folder_and_the_fix(tmp_path, monkeypatch) -> None:
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("no route to host")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    with pytest.raises(FileNotFoundError) as info:
        CIFAR100(tmp_path, download=True)
    message = str(info.value)
    assert "downloading it there failed (URLError" in message and str(tmp_path) in message
    assert CIFAR100.find_files(tmp_path) is None


def test_find_files(tmp_path) -> None:
    write_cifar100(tmp_path, {"train": 3, "test": 2})
    split, meta = CIFAR100.find_files(tmp_path, train=False)
    assert split.name == "test" and meta.name == "meta"


def test_info() -> None:
    info = CIFAR100.info
    assert (info.num_classes, info.in_channels, info.image_size) == (100, 3, 32)
    assert info.mean == (0.5071, 0.4865, 0.4409) and info.std == (0.2673, 0.2564, 0.2762)
    assert (info.train_size, info.test_size, info.crop_padding) == (50000, 10000, 4)
