"""Shared test settings: deterministic, double precision where references need it, one
CPU thread."""

import os

import pytest
import torch

# The tests' networks are tiny, so a second intra-op thread gains nothing, and beside a
# busy core (a CI step installing packages meanwhile, a benchmark run) it stalls: one
# MobileNetV2 recipe test took over 300 s with two threads there, 6.5 s with one. The
# subprocesses the tests start (CLI runs, torchrun) inherit the variable.
if "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def write_image_tree(root, classes=("cat", "dog", "owl"), per_class=(3, 2), size=(20, 16)):
    """A tiny ImageNet-layout tree: ``root/{train,val}/<class>/<i>.{jpg,png}``.

    ``per_class`` gives the images per class of train and val; files alternate between
    JPEG (RGB) and PNG (greyscale, which the dataset must read as RGB). Returns ``root``.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in zip(("train", "val"), per_class):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                width, height = size
                if i % 2:
                    pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
                    Image.fromarray(pixels, "L").save(folder / f"{i}.png")
                else:
                    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                    Image.fromarray(pixels, "RGB").save(folder / f"{i}.jpg", quality=95)
    return root


@pytest.fixture
def image_tree(tmp_path):
    """A written :func:`write_image_tree` under ``tmp_path / "images"``."""
    return write_image_tree(tmp_path / "images")


@pytest.fixture
def image_tree_writer():
    """:func:`write_image_tree`, for trees of other sizes."""
    return write_image_tree
