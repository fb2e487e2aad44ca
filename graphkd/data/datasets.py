"""The dataset registry: build any dataset by name with its standard transforms.

Every registered dataset class takes ``root``, ``train``, ``transform``,
``target_transform`` and ``download`` and carries a :class:`DatasetInfo` as ``info``.

Example
-------
>>> from graphkd.data import dataset_info, list_datasets
>>> list_datasets()
['cifar100', 'fashion_mnist']
>>> dataset_info("fashion_mnist").in_channels
1
"""

from __future__ import annotations

import os
from typing import Any, Callable, List, Optional, Union

from torch.utils.data import Dataset

from graphkd.data.cifar100 import CIFAR100
from graphkd.data.dataset_info import DatasetInfo
from graphkd.data.fashion_mnist import FashionMNIST
from graphkd.registry import Registry

#: Dataset classes by name.
DATASETS = Registry("dataset")
DATASETS.register("cifar100")(CIFAR100)
DATASETS.register("fashion_mnist")(FashionMNIST)


def list_datasets() -> List[str]:
    """The registered dataset names, sorted."""
    return DATASETS.names()


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of the dataset registered as ``name``.

    Raises
    ------
    ValueError
        Unknown ``name``; the message lists the valid ones.
    """
    return DATASETS.get(name).info


def create_dataset(
    name: str,
    root: Optional[Union[str, os.PathLike[str]]] = None,
    train: bool = True,
    transform: Optional[Callable] = None,
    download: bool = False,
    **options: Any,
) -> Dataset:
    """Build the dataset registered as ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`: ``"cifar100"`` or ``"fashion_mnist"``.
    root : str or os.PathLike, optional
        Data directory; defaults to :func:`graphkd.data.default_data_dir`.
    train : bool, default True
        Training or test split.
    transform : callable, optional
        Applied to each PIL image. ``None`` selects the dataset's standard transform:
        ``info.train_transform()`` for the training split, ``info.test_transform()``
        otherwise. Pass e.g. a :class:`graphkd.data.TwoViews` for real/virtual pairs.
    download : bool, default False
        Download the dataset when no local copy is found.
    **options
        Further keyword arguments of the dataset class (``target_transform``;
        ``verify_checksums`` for CIFAR-100).

    Returns
    -------
    torch.utils.data.Dataset
        Yields ``(image, label)``.

    Raises
    ------
    ValueError
        Unknown ``name``; the message lists the valid ones.

    Example
    -------
    >>> from graphkd.data import create_dataset
    >>> create_dataset("imagenet")
    Traceback (most recent call last):
        ...
    ValueError: unknown dataset 'imagenet'; valid names: cifar100, fashion_mnist
    """
    cls = DATASETS.get(name)
    if transform is None:
        transform = cls.info.train_transform() if train else cls.info.test_transform()
    return cls(root=root, train=train, transform=transform, download=download, **options)
