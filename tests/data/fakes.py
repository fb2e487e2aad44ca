"""Tiny fake Fashion-MNIST (IDX) and CIFAR-100 (pickle) copies written on disk by the tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

FASHION_NAMES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file holding ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(
    directory: Path, train: bool, size: int, compress: bool = True, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Write a ``size``-sample split of fake Fashion-MNIST to ``directory``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(size, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=size, dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in zip(FASHION_NAMES[train], (images, labels)):
        body = idx_bytes(array)
        if compress:
            (directory / f"{name}.gz").write_bytes(gzip.compress(body))
        else:
            (directory / name).write_bytes(body)
    return images, labels


def write_cifar100(root: Path, sizes: Dict[str, int], seed: int = 0) -> Dict[str, Tuple]:
    """Write fake ``root/cifar-100-python/{train,test,meta}`` in torchvision's pickle layout."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, size in sizes.items():
        data = rng.integers(0, 256, size=(size, 3 * 32 * 32), dtype=np.uint8)
        fine = rng.integers(0, 100, size=size).tolist()
        entry = {
            "filenames": [f"img_{i}.png" for i in range(size)],
            "batch_label": f"{split} batch",
            "fine_labels": fine,
            "coarse_labels": [label // 5 for label in fine],
            "data": data,
        }
        with open(folder / split, "wb") as handle:
            pickle.dump(entry, handle)
        written[split] = (data, fine)
    meta = {
        "fine_label_names": [f"fine_{i}" for i in range(100)],
        "coarse_label_names": [f"coarse_{i}" for i in range(20)],
    }
    with open(folder / "meta", "wb") as handle:
        pickle.dump(meta, handle)
    return written
