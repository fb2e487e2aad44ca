r"""timm's training transform, as the vision transformers of Li et al. (ECCV 2022) are
trained on CIFAR-100 (``data.augmentation: timm``).

The ConvNet-to-ViT set-up of the VRM paper's Table 3 follows Li et al.'s
``lkhl/tiny-transformers``, whose training images go through
``timm.data.create_transform`` with

- a random-resized crop to the network's side (area 0.08 to 1, aspect 3/4 to 4/3),
  bicubic, and a horizontal flip;
- RandAugment ``rand-m9-mstd0.5-inc1``: two operations per image of magnitude 9 with
  standard deviation 0.5, the magnitude-increasing variants;
- colour jitter 0.4, which timm itself switches off under RandAugment;
- tensor conversion and per-channel normalisation, then random erasing with probability
  0.25 (per-pixel random values, one box);
- no mixup, cutmix or label smoothing.

.. math::

    T(x) = \operatorname{Erase}_{0.25} \circ \operatorname{Normalize}_{\mu, \sigma}
        \circ \operatorname{RandAugment}_{2, 9} \circ \operatorname{Flip}
        \circ \operatorname{RRC}^{\text{bicubic}}_{s}(x)

timm draws from Python's ``random`` and NumPy's global generator; :class:`TimmAugmentation`
draws those from one seed taken from the global torch generator, so each view repeats
under :func:`torch.manual_seed` like graphkd's own augmentations (and per sample under
:class:`~graphkd.data.SeededSamples`). timm is an optional dependency (``pip install
timm``).

Example
-------
>>> import torch
>>> from PIL import Image
>>> augment = TimmAugmentation(16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
>>> _ = torch.manual_seed(0); first = augment(Image.new("RGB", (32, 32), (90, 20, 200)))
>>> _ = torch.manual_seed(0); torch.equal(first, augment(Image.new("RGB", (32, 32), (90, 20, 200))))
True
>>> first.shape
torch.Size([3, 16, 16])
"""

from __future__ import annotations

import importlib
import random
from typing import Any, Sequence

import numpy as np
import torch

#: The ``create_transform`` options of Li et al.'s CIFAR-100 training transform.
TIMM_TRAINING = {
    "is_training": True,
    "auto_augment": "rand-m9-mstd0.5-inc1",
    "color_jitter": 0.4,
    "re_prob": 0.25,
    "re_mode": "pixel",
    "re_count": 1,
    "interpolation": "bicubic",
}


def check_timm_augmentation(key: str = "data.augmentation") -> None:
    """Raise an ``ImportError`` naming ``key`` and ``pip install timm`` when timm is
    missing."""
    try:
        importlib.import_module("timm.data")
    except ImportError:
        raise ImportError(
            f"{key} 'timm' is timm's training transform and needs timm, which is not "
            "installed; pip install timm (or pip install 'graphkd[timm]'), or choose "
            "another augmentation"
        ) from None


class TimmAugmentation:
    """timm's training transform of Li et al. (see the module), seeded from torch.

    Parameters
    ----------
    size : int
        Side of the random-resized crops, in pixels.
    mean, std : sequence of float
        Per-channel normalisation, one value per channel of the images.

    Call
    ----
    image
        A PIL image; returns a normalised ``float32`` tensor ``(C, size, size)``.

    Raises
    ------
    ImportError
        timm is not installed; the message says ``pip install timm``.
    """

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        check_timm_augmentation()
        from timm.data import create_transform

        self.transform = create_transform(
            input_size=size, mean=tuple(mean), std=tuple(std), **TIMM_TRAINING
        )

    def __call__(self, image: Any) -> torch.Tensor:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        python_state, numpy_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            return self.transform(image)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transform!r})"
