"""Fashion-MNIST: search order, errors, the torchvision download path, and the real copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from graphkd.data import FashionMNIST

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_system_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the system directory at an empty folder."""
    empty = tmp_path / "system"
    empty.mkdir()
    monkeypatch.setattr(FashionMNIST, "system_dir", empty)
    return empty


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_reads_root(tmp_path, no_system_copy, fashion_writer, compress, train) -> None:
    images, labels = fashion_writer(tmp_path, train, size=5, compress=compress)
    data = FashionMNIST(tmp_path, train=train)
    assert len(data) == 5
    assert torch.equal(data.data, torch.from_numpy(images))
    assert data.targets.tolist() == labels.tolist()
    image, label = data[3]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (28, 28)
    assert np.array_equal(np.asarray(image), images[3]) and label == int(labels[3])


def test_transforms_applied(tmp_path, no_system_copy, fashion_writer) -> None:
    images, labels = fashion_writer(tmp_path, True, size=3)
    data = FashionMNIST(
        tmp_path,
        transform=FashionMNIST.info.test_transform(),
        target_transform=lambda y: y + 100,
    )
    image, label = data[1]
    expected = (torch.from_numpy(images[1]).float() / 255 - 0.2860) / 0.3530
    assert image.shape == (1, 28, 28)
    assert torch.allclose(image[0], expected, atol=1e-6)
    assert label == int(labels[1]) + 100


def test_torchvision_layout_found(tmp_path, no_system_copy, fashion_writer) -> None:
    fashion_writer(tmp_path / "FashionMNIST" / "raw", False, size=4)
    data = FashionMNIST(tmp_path, train=False)
    assert len(data) == 4
    assert data.images_file.parent == tmp_path / "FashionMNIST" / "raw"


def test_root_before_system_dir(tmp_path, monkeypatch, fashion_writer) -> None:
    system = tmp_path / "system"
    fashion_writer(system, True, size=7, seed=1)
    monkeypatch.setattr(FashionMNIST, "system_dir", system)
    root = tmp_path / "user"
    fashion_writer(root, True, size=3, seed=2)
    assert len(FashionMNIST(root)) == 3
    monkeypatch.setenv("GRAPHKD_DATA_DIR", str(tmp_path / "empty-default"))
    assert FashionMNIST().images_file.parent == system  # no root: the system copy


def test_an_explicit_root_without_data_is_an_error(tmp_path, monkeypatch, fashion_writer):
    """A mistyped root is not silently replaced by the system copy."""
    system = tmp_path / "system"
    fashion_writer(system, True, size=7, seed=1)
    monkeypatch.setattr(FashionMNIST, "system_dir", system)
    typo = tmp_path / "fashon"
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(typo)
    assert str(typo) in str(info.value) and str(system) not in str(info.value)


def test_plain_file_preferred_to_gzip(tmp_path, no_system_copy, fashion_writer) -> None:
    fashion_writer(tmp_path, True, size=2, compress=True)
    fashion_writer(tmp_path, True, size=3, compress=False)
    data = FashionMNIST(tmp_path)
    assert len(data) == 3 and data.images_file.suffix != ".gz"


def test_missing_says_what_to_do(tmp_path, no_system_copy) -> None:
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(tmp_path, train=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message and str(tmp_path) in message
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message


def test_half_split_is_missing(tmp_path, no_system_copy, fashion_writer) -> None:
    fashion_writer(tmp_path, True, size=2)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        FashionMNIST(tmp_path)


def test_truncated_file_error_names_file_and_fix(tmp_path, no_system_copy, fashion_writer) -> None:
    fashion_writer(tmp_path, True, size=2, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated") as info:
        FashionMNIST(tmp_path)
    assert str(path) in str(info.value)
    assert "download=True" in str(info.value) and "dataset-fashion-mnist" in str(info.value)


def test_mismatched_lengths(tmp_path, no_system_copy, fashion_writer) -> None:
    fashion_writer(tmp_path, True, size=4)
    other = tmp_path / "other"
    fashion_writer(other, True, size=3)
    (other / "train-labels-idx1-ubyte.gz").replace(tmp_path / "train-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="4 images but .* 3 labels"):
        FashionMNIST(tmp_path)


def test_download_path_uses_torchvision(tmp_path, no_system_copy, monkeypatch, fashion_writer):
    calls = []

    class FakeTorchvisionFashionMNIST:
        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            calls.append((root, train, download))
            raw = Path(root) / "FashionMNIST" / "raw"
            fashion_writer(raw, True, size=6, compress=False)
            fashion_writer(raw, False, size=2, compress=False)

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeTorchvisionFashionMNIST)
    with pytest.raises(FileNotFoundError):
        FashionMNIST(tmp_path, download=False)
    assert calls == []
    data = FashionMNIST(tmp_path, train=True, download=True)
    assert calls == [(str(tmp_path), True, True)]
    assert len(data) == 6 and data.images_file.parent == tmp_path / "FashionMNIST" / "raw"
    FashionMNIST(tmp_path, train=False, download=True)
    assert len(calls) == 1  # already on disk: no second download


def test_failed_download_message(tmp_path, no_system_copy, monkeypatch) -> None:
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", lambda *args, **kwargs: None)
    with pytest.raises(FileNotFoundError, match="download left no files"):
        FashionMNIST(tmp_path, download=True)


def test_offline_download_names_the_folder_and_the_fix(tmp_path, no_system_copy, monkeypatch):
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(tmp_path, download=True)
    message = str(info.value)
    assert f"downloading them into {tmp_path} failed (URLError" in message
    assert f"put the IDX files in {tmp_path}" in message


def test_default_root_from_environment(tmp_path, no_system_copy, monkeypatch, fashion_writer):
    fashion_writer(tmp_path, False, size=2)
    monkeypatch.setenv("GRAPHKD_DATA_DIR", str(tmp_path))
    assert len(FashionMNIST(train=False)) == 2


@pytest.fixture(scope="module")
def real_copy() -> dict:
    if not (SYSTEM_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    return {train: FashionMNIST(SYSTEM_DIR, train=train) for train in (True, False)}


@pytest.mark.parametrize(("train", "size"), [(True, 60000), (False, 10000)])
def test_real_copy(real_copy, train, size) -> None:
    data = real_copy[train]
    assert data.images_file.parent == SYSTEM_DIR
    assert len(data) == size and data.data.shape == (size, 28, 28)
    assert int(data.targets.min()) == 0 and int(data.targets.max()) == 9
    counts = torch.bincount(data.targets, minlength=10)
    assert counts.tolist() == [size // 10] * 10
    image, label = data[0]
    assert image.size == (28, 28) and 0 <= label <= 9


def test_real_copy_normalisation_constants(real_copy) -> None:
    pixels = real_copy[True].data.double() / 255
    assert abs(float(pixels.mean()) - FashionMNIST.info.mean[0]) < 5e-4
    assert abs(float(pixels.std()) - FashionMNIST.info.std[0]) < 5e-4
