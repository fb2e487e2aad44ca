"""IDX reading on tiny files written here with struct, independently of graphkd."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from graphkd.data import read_idx, read_idx_images, read_idx_labels

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}
CODES[np.float64] = 0x0E


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file: zero bytes, type code, ndim, dims, big-endian data."""
    header = bytes([0, 0, CODES[array.dtype.type], array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    body = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(body) if compress else body)
    return path


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_images_plain_and_gzip(tmp_path: Path, images: np.ndarray, compress: bool) -> None:
    name = "images-idx3-ubyte" + (".gz" if compress else "")
    path = write_idx(tmp_path / name, images, compress)
    out = read_idx_images(path)
    assert out.dtype == torch.uint8 and out.shape == (5, 4, 3)
    assert np.array_equal(out.numpy(), images)


def test_gzip_recognised_by_content_not_name(tmp_path: Path, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "no-extension", images, compress=True)
    assert np.array_equal(read_idx(path).numpy(), images)


@pytest.mark.parametrize("compress", [False, True])
def test_labels(tmp_path: Path, compress: bool) -> None:
    labels = np.array([9, 0, 3, 255], dtype=np.uint8)
    out = read_idx_labels(write_idx(tmp_path / "labels", labels, compress))
    assert out.dtype == torch.int64
    assert out.tolist() == [9, 0, 3, 255]


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_other_types_big_endian(tmp_path: Path, dtype: type) -> None:
    scale = 5 if dtype is np.int8 else 1000.25
    array = ((np.arange(24).reshape(2, 3, 4) - 12) * scale).astype(dtype)
    out = read_idx(write_idx(tmp_path / "x", array))
    assert out.shape == (2, 3, 4)
    assert np.array_equal(out.numpy(), array)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data_names_file(tmp_path: Path, images: np.ndarray, compress: bool) -> None:
    path = write_idx(tmp_path / "full", images)
    cut = tmp_path / ("cut-idx3-ubyte" + (".gz" if compress else ""))
    body = path.read_bytes()[:-7]
    cut.write_bytes(gzip.compress(body) if compress else body)
    with pytest.raises(ValueError, match="truncated") as info:
        read_idx_images(cut, fix="run the fixer")
    assert str(cut) in str(info.value)
    assert "run the fixer" in str(info.value)


def test_truncated_header_names_file(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">I", 5))
    with pytest.raises(ValueError, match="header") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_damaged_gzip_stream_names_file(tmp_path: Path, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "x.gz", images, compress=True)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("magic", [bytes([1, 0, 0x08, 1]), bytes([0, 0, 0x07, 1]), b"PK\x03\x04"])
def test_bad_magic_names_file(tmp_path: Path, magic: bytes) -> None:
    path = tmp_path / "bad-magic"
    path.write_bytes(magic + struct.pack(">I", 2) + bytes(2))
    with pytest.raises(ValueError, match="magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_trailing_bytes_rejected(tmp_path: Path, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "long", images)
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(ValueError, match="2 bytes after"):
        read_idx(path)


def test_zero_dimensions_rejected(tmp_path: Path) -> None:
    path = tmp_path / "scalar"
    path.write_bytes(bytes([0, 0, 0x08, 0]))
    with pytest.raises(ValueError, match="0 dimensions"):
        read_idx(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent-idx1-ubyte"
    with pytest.raises(FileNotFoundError) as info:
        read_idx_labels(path, fix="install it")
    assert str(path) in str(info.value) and "install it" in str(info.value)


def test_wrong_kind_of_file(tmp_path: Path, images: np.ndarray) -> None:
    labels = write_idx(tmp_path / "labels", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="idx3-ubyte image file"):
        read_idx_images(labels)
    with pytest.raises(ValueError, match="idx1-ubyte label file"):
        read_idx_labels(write_idx(tmp_path / "images", images))
