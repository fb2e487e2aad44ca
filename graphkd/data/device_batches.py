r"""Training images resident on the device, batched and augmented there (``data.on_device``).

The per-image path decodes every image on the CPU (PIL -> ``uint8`` tensor -> random crop
and flip -> normalise) and copies each batch to the device. Here the whole ``uint8``
training set is copied to the device once, and each batch is cut out of it by index and
augmented as one tensor:

- the student's view :math:`T_s(x)`: zero padding by ``crop_padding``, a random crop back
  to the image size with per-sample offsets :math:`(i, j) \sim U\{0 .. 2p\}^2`, a
  horizontal flip with probability 1/2;
- the virtual view :math:`T_v(x)` (methods with ``needs_virtual_view``): its own crop and
  flip, then RandAugment with ``n`` = 2 operations of magnitude 9 on 31 bins, each sample
  drawing its own operations (uniform over the 14 of torchvision's RandAugment) and signs;
  the samples that drew the same (operation, sign) in a round are transformed together as
  one sub-batch by the per-image path's own operation, so every sample is transformed
  exactly as the per-image RandAugment would transform it with the same draws;
- then :math:`x' = (x / 255 - \mu_c) / \sigma_c` in ``float32``, optionally in
  ``channels_last`` memory format.

What differs from the per-image path: the random numbers come from two generators per
epoch on the device (one for the student's view, one for the virtual view, seeded from
``run.seed`` and the epoch), drawn per batch, instead of per-sample draws on the CPU, so
the same seed gives equally distributed but not bitwise equal augmentations. Methods with
and without a virtual view see the same student views. The
batches (their order) are exactly those of the per-image path. Teachers' own views
(``model.teacher_augmentations``), the ``weak``/``strong`` augmentations and DDP are not
supported here and raise an error.

Example
-------
>>> import torch
>>> from graphkd.data import dataset_info
>>> images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
>>> data = DeviceBatches(images, torch.arange(10) % 3, dataset_info("fashion_mnist"))
>>> (real, virtual), labels, index = next(iter(data.batches([torch.tensor([4, 2])], seed=0)))
>>> real.shape, virtual.dtype, index.tolist()
(torch.Size([2, 1, 28, 28]), torch.float32, [4, 2])
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, Subset
from torchvision.transforms import InterpolationMode, RandAugment
from torchvision.transforms.autoaugment import _apply_op

from graphkd.data.dataset_info import DatasetInfo

#: RandAugment of the virtual view: operations per image, magnitude, number of bins.
RAND_AUGMENT_OPS, RAND_AUGMENT_MAGNITUDE, RAND_AUGMENT_BINS = 2, 9, 31


def resident_images(dataset: Dataset) -> Tuple[Tensor, Tensor]:
    """``(N, C, H, W)`` ``uint8`` images and ``(N,)`` labels of a dataset that keeps its
    images in ``data`` (Fashion-MNIST ``(N, H, W)``, CIFAR ``(N, H, W, C)``), or a Subset."""
    if isinstance(dataset, Subset):
        images, labels = resident_images(dataset.dataset)
        chosen = torch.as_tensor(dataset.indices, dtype=torch.long)
        return images[chosen], labels[chosen]
    if not hasattr(dataset, "data") or not hasattr(dataset, "targets"):
        raise ValueError(
            f"data.on_device needs a dataset holding its images in 'data' and labels in "
            f"'targets'; {type(dataset).__name__} does not: set data.on_device=false"
        )
    images = torch.as_tensor(np.asarray(dataset.data))
    if images.dtype != torch.uint8 or images.dim() not in (3, 4):
        raise ValueError(
            f"data.on_device needs uint8 images of shape (N, H, W) or (N, H, W, C), got "
            f"{images.dtype} {tuple(images.shape)}; set data.on_device=false"
        )
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(dataset.targets).long()


class DeviceBatches:
    """A training set resident on ``device``, yielding augmented batches.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` ``uint8`` training images.
    labels : torch.Tensor
        ``(N,)`` labels.
    info : DatasetInfo
        Image size, crop padding and normalisation.
    device : torch.device or str, default "cpu"
        Where the images live and the batches are made.
    virtual : bool, default True
        Also yield the RandAugment virtual view: batches are then ``((real, virtual),
        labels, index)``, else ``(real, labels, index)``.
    channels_last : bool, default False
        Return images in ``torch.channels_last`` memory format.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        info: DatasetInfo,
        device: Union[torch.device, str] = "cpu",
        virtual: bool = True,
        channels_last: bool = False,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != len(labels):
            raise ValueError(
                f"DeviceBatches needs (N, C, H, W) uint8 images and N labels, got "
                f"{images.dtype} {tuple(images.shape)} and {len(labels)} labels"
            )
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.targets = labels.to(self.device)
        self.info = info
        self.virtual = virtual
        self.channels_last = channels_last
        size = images.shape[-2:]
        space = RandAugment()._augmentation_space(RAND_AUGMENT_BINS, (size[0], size[1]))
        self._ops = [
            (name, float(mags[RAND_AUGMENT_MAGNITUDE]) if mags.ndim else 0.0, signed)
            for name, (mags, signed) in space.items()
        ]
        shape = (1, info.in_channels, 1, 1)
        self._mean = torch.tensor(info.mean, device=self.device).view(shape)
        self._std = torch.tensor(info.std, device=self.device).view(shape)

    def __len__(self) -> int:
        return len(self.targets)

    def batches(self, index_batches: Iterable[Tensor], seed: int) -> _Epoch:
        """The batches whose dataset indices ``index_batches`` gives, augmented with a
        generator seeded by ``seed``; ``len()`` is that of ``index_batches`` when it has one."""
        return _Epoch(self, index_batches, seed)

    def crop_flip(self, images: Tensor, generator: Optional[torch.Generator]) -> Tensor:
        """Random crop after zero padding by ``info.crop_padding`` and horizontal flip of a
        ``(B, C, H, W)`` ``uint8`` batch, with per-sample draws."""
        size, pad = images.shape[0], self.info.crop_padding
        height, width = images.shape[-2:]
        offsets = torch.randint(
            0, 2 * pad + 1, (2, size), generator=generator, device=self.device
        ).view(2, size, 1)
        flip = torch.rand(size, generator=generator, device=self.device) < 0.5
        padded = F.pad(images, (pad, pad, pad, pad))
        rows = offsets[0] + torch.arange(height, device=self.device)
        cols = offsets[1] + torch.arange(width, device=self.device)
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        batch = torch.arange(size, device=self.device)[:, None, None]
        return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)

    def rand_augment(self, images: Tensor, generator: Optional[torch.Generator]) -> Tensor:
        """RandAugment(n=2, magnitude=9) of a ``(B, C, H, W)`` ``uint8`` batch, per-sample
        operations and signs, each (operation, sign) group transformed as one sub-batch."""
        out = images.clone()
        size = len(images)
        for _ in range(RAND_AUGMENT_OPS):
            chosen = torch.randint(
                0, len(self._ops), (size,), generator=generator, device=self.device
            )
            negative = torch.randint(0, 2, (size,), generator=generator, device=self.device)
            out = self.apply_ops(out, chosen, negative)
        return out

    def apply_ops(self, images: Tensor, chosen: Tensor, negative: Tensor) -> Tensor:
        """Apply operation ``chosen[b]`` of RandAugment's list, negated where
        ``negative[b]`` and the operation is signed, to sample ``b`` of ``images``."""
        out = images.clone()
        keys = chosen * 2 + negative
        for key in torch.unique(keys).tolist():
            name, magnitude, signed = self._ops[key // 2]
            members = (keys == key).nonzero().squeeze(1)
            value = -magnitude if signed and key % 2 else magnitude
            out[members] = _apply_op(
                images[members], name, value, interpolation=InterpolationMode.NEAREST, fill=None
            )
        return out

    def normalize(self, images: Tensor) -> Tensor:
        """``uint8`` -> ``float32`` in [0, 1] -> per-channel normalisation."""
        out = (images.float() / 255 - self._mean) / self._std
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out


class _Epoch:
    """One pass of :meth:`DeviceBatches.batches`."""

    def __init__(self, data: DeviceBatches, index_batches: Iterable[Tensor], seed: int) -> None:
        self.data = data
        self.index_batches = index_batches
        self.seed = seed

    def __len__(self) -> int:
        return len(self.index_batches)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Tuple[Any, Tensor, Tensor]]:
        data = self.data
        # the views draw from generators of their own, so the student's view of a seed is
        # the same with and without a virtual view
        student = torch.Generator(device=data.device).manual_seed(2 * self.seed)
        second = torch.Generator(device=data.device).manual_seed(2 * self.seed + 1)
        for index in self.index_batches:
            index = torch.as_tensor(index, device=data.device)
            raw = data.images[index]
            real = data.normalize(data.crop_flip(raw, student))
            images: Union[Tensor, List[Tensor]] = real
            if data.virtual:
                virtual = data.rand_augment(data.crop_flip(raw, second), second)
                images = [real, data.normalize(virtual)]
            yield images, data.targets[index], index


def channels_last(modules: Sequence[torch.nn.Module]) -> None:
    """Put every module's weights in ``torch.channels_last`` memory format (in place)."""
    for module in modules:
        module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
