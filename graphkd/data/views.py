"""View transforms: the real and virtual views of one image.

Methods such as VRM (Zhang et al., 2025) feed each image twice: a *real* view under the
usual weak augmentation and a *virtual* view under a strong one. The builders here
return augmentations that act on ``uint8`` image tensors ``(C, H, W)`` (they also accept
PIL images, except :func:`auto_augment_cutout`); wrap them with
:meth:`graphkd.data.DatasetInfo.transform` to add tensor conversion and normalisation.
All randomness comes from the global torch generator, so every view repeats under
:func:`torch.manual_seed`.

.. math::

    (x^{\\text{real}}, x^{\\text{virtual}}) = (T_r(x), T_v(x)),
    \\qquad T_r, T_v \\text{ drawn independently}

Example
-------
>>> import torch
>>> from PIL import Image
>>> from graphkd.data import dataset_info
>>> info = dataset_info("cifar100")
>>> views = TwoViews(info.train_transform(), info.transform(rand_augment()))
>>> real, virtual = views(Image.new("RGB", (32, 32)))
>>> real.shape, virtual.shape
(torch.Size([3, 32, 32]), torch.Size([3, 32, 32]))
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

from torch.utils.data import Dataset
from torchvision import transforms

from graphkd.data.cutout import Cutout


def weak_augmentation(size: int, padding: int) -> transforms.Compose:
    """Random crop of side ``size`` after zero padding by ``padding``, then horizontal flip.

    Parameters
    ----------
    size : int
        Output side in pixels (the image size: 32 for CIFAR, 28 for Fashion-MNIST).
    padding : int
        Zero padding on every side before cropping (4 for CIFAR, 2 for Fashion-MNIST).

    Example
    -------
    >>> import torch
    >>> weak_augmentation(32, 4)(torch.zeros(3, 32, 32, dtype=torch.uint8)).shape
    torch.Size([3, 32, 32])
    """
    if size < 1 or padding < 0:
        raise ValueError(
            f"weak_augmentation needs size >= 1 and padding >= 0, got size={size}, "
            f"padding={padding}; pass e.g. size=32, padding=4"
        )
    return transforms.Compose(
        [transforms.RandomCrop(size, padding=padding), transforms.RandomHorizontalFlip()]
    )


def rand_augment(n: int = 2, magnitude: int = 9) -> transforms.RandAugment:
    """RandAugment (Cubuk et al., 2020): ``n`` random operations of strength ``magnitude``.

    Parameters
    ----------
    n : int, default 2
        Operations applied per image.
    magnitude : int, default 9
        Strength on torchvision's scale of 31 bins (0 .. 30); 9 is torchvision's default.

    Example
    -------
    >>> import torch
    >>> rand_augment()(torch.zeros(1, 28, 28, dtype=torch.uint8)).shape
    torch.Size([1, 28, 28])
    """
    if n < 0 or not 0 <= magnitude <= 30:
        raise ValueError(
            f"rand_augment needs n >= 0 and 0 <= magnitude <= 30, got n={n}, "
            f"magnitude={magnitude}; pass e.g. n=2, magnitude=9"
        )
    return transforms.RandAugment(num_ops=n, magnitude=magnitude)


def auto_augment_cutout(cutout: int = 16, fill: int = 128) -> transforms.Compose:
    """AutoAugment with the CIFAR-10 policy (Cubuk et al., 2019), then :class:`Cutout`.

    Parameters
    ----------
    cutout : int, default 16
        Side of the blanked square, in pixels (blanked to 0).
    fill : int, default 128
        Value of the pixels that AutoAugment's geometric operations (shear, translate,
        rotate) uncover, mid grey as in the ensemble study's reference implementation.

    Notes
    -----
    Acts on image tensors only (Cutout writes into a tensor): place it after
    ``PILToTensor``, as :meth:`graphkd.data.DatasetInfo.transform` does.

    Example
    -------
    >>> import torch
    >>> auto_augment_cutout(8)(torch.zeros(3, 32, 32, dtype=torch.uint8)).shape
    torch.Size([3, 32, 32])
    """
    policy = transforms.AutoAugment(transforms.AutoAugmentPolicy.CIFAR10, fill=fill)
    return transforms.Compose([policy, Cutout(cutout)])


class TwoViews:
    """Map one image to its ``(real, virtual)`` pair of views.

    Parameters
    ----------
    real_transform : callable
        Transform giving the real view, e.g. ``info.train_transform()``.
    virtual_transform : callable
        Transform giving the virtual view, e.g. ``info.transform(rand_augment())``.

    Call
    ----
    image
        One image as the dataset yields it (a PIL image for the graphkd datasets).
        Returns ``(real_transform(image), virtual_transform(image))``, the real view drawn
        first.

    Example
    -------
    >>> from PIL import Image
    >>> from graphkd.data import dataset_info
    >>> info = dataset_info("fashion_mnist")
    >>> pair = TwoViews(info.train_transform(), info.transform(rand_augment()))
    >>> [view.shape for view in pair(Image.new("L", (28, 28)))]
    [torch.Size([1, 28, 28]), torch.Size([1, 28, 28])]
    """

    def __init__(self, real_transform: Callable, virtual_transform: Callable) -> None:
        self.real_transform = real_transform
        self.virtual_transform = virtual_transform

    def __call__(self, image: Any) -> Tuple[Any, Any]:
        real = self.real_transform(image)
        virtual = self.virtual_transform(image)
        return real, virtual

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(real_transform={self.real_transform!r}, "
            f"virtual_transform={self.virtual_transform!r})"
        )


class TwoViewDataset(Dataset):
    """Wrap a dataset of ``(image, label)`` so that it yields ``((real, virtual), label)``.

    The wrapped dataset must yield untransformed images (build it with
    ``transform=None``). Wrap the result in :class:`graphkd.data.WithIndex` to get
    ``((real, virtual), label, index)``; PyTorch's default collate then gives
    ``([real_batch, virtual_batch], labels, indices)``.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Yields ``(image, label)``.
    real_transform, virtual_transform : callable
        As in :class:`TwoViews`.

    Example
    -------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> base = TensorDataset(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.arange(4))
    >>> pairs = TwoViewDataset(base, weak_augmentation(8, 1), rand_augment())
    >>> (real, virtual), label = pairs[2]
    >>> real.shape, int(label)
    (torch.Size([1, 8, 8]), 2)
    """

    def __init__(
        self, dataset: Dataset, real_transform: Callable, virtual_transform: Callable
    ) -> None:
        self.dataset = dataset
        self.views = TwoViews(real_transform, virtual_transform)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tuple[Tuple[Any, Any], Any]:
        image, label = self.dataset[index]
        return self.views(image), label
