"""The dataset registry: build any dataset by name with its standard transforms.

Every registered dataset class takes ``root``, ``train``, ``transform``,
``target_transform`` and ``download``. A dataset of fixed shape carries its
:class:`DatasetInfo` as the class attribute ``info``; a dataset read from a folder of the
user's (``image_folder``) has a classmethod ``describe(root, image_size)`` that counts
it from the folder, and takes ``image_size``.

Example
-------
>>> from graphkd.data import dataset_info, list_datasets
>>> list_datasets()
['cifar100', 'fashion_mnist', 'image_folder']
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
from graphkd.data.image_folder import ImageFolder
from graphkd.registry import Registry

#: Dataset classes by name.
DATASETS = Registry("dataset")
DATASETS.register("cifar100")(CIFAR100)
DATASETS.register("fashion_mnist")(FashionMNIST)
DATASETS.register("image_folder")(ImageFolder)


def list_datasets() -> List[str]:
    """The registered dataset names, sorted."""
    return DATASETS.names()


def dataset_info(
    name: str,
    root: Optional[Union[str, os.PathLike[str]]] = None,
    image_size: Optional[int] = None,
) -> DatasetInfo:
    """The :class:`DatasetInfo` of the dataset registered as ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.
    root : str or os.PathLike, optional
        The data directory; only datasets described by their folder (``image_folder``)
        read it.
    image_size : int, optional
        Side of the crops of a folder dataset (default 224). A dataset of fixed size
        (CIFAR-100, Fashion-MNIST) is resized to it: :meth:`DatasetInfo.at_size`.

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the valid ones), or an ``image_size`` that is
        not a positive int.
    """
    cls = DATASETS.get(name)
    describe = getattr(cls, "describe", None)
    if describe is not None:
        return describe(root) if image_size is None else describe(root, image_size)
    info: DatasetInfo = cls.info
    return info if image_size is None else info.at_size(image_size)


def create_dataset(
    name: str,
    root: Optional[Union[str, os.PathLike[str]]] = None,
    train: bool = True,
    transform: Optional[Callable] = None,
    download: bool = False,
    image_size: Optional[int] = None,
    **options: Any,
) -> Dataset:
    """Build the dataset registered as ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`: ``"cifar100"``, ``"fashion_mnist"`` or
        ``"image_folder"`` (any ``root/{train,val}/<class>/`` tree, see
        :class:`~graphkd.data.ImageFolder`).
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
    image_size : int, optional
        Crop side of a folder dataset (default 224), or the side a fixed-size dataset is
        resized to; see :func:`dataset_info`.
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
    ValueError: unknown dataset 'imagenet'; valid names: cifar100, fashion_mnist, image_folder; did you mean 'image_folder'?
    """
    cls = DATASETS.get(name)
    info = dataset_info(name, root, image_size)
    if transform is None:
        transform = info.train_transform() if train else info.test_transform()
    if hasattr(cls, "describe"):
        options["image_size"] = info.image_size
    return cls(root=root, train=train, transform=transform, download=download, **options)
