"""Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017), read from local IDX files.

70 000 grey 28 x 28 images of 10 clothing classes (60 000 train, 10 000 test). The IDX
files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` are looked for, in order, in

1. the ``root`` directory itself, ``root/FashionMNIST/raw`` (torchvision's layout) and
   ``root/fashion-mnist``;
2. only when no ``root`` is given: ``/usr/share/datasets/fashion-mnist``, installed by
   Debian's ``dataset-fashion-mnist`` package (a ``root`` given explicitly is the only
   place looked in, so a mistyped one is an error, not silently replaced);
3. with ``download=True`` only, ``root/FashionMNIST/raw`` after torchvision's
   :class:`~torchvision.datasets.FashionMNIST` has downloaded the files there.

Standard normalisation uses :math:`\\mu = 0.2860`, :math:`\\sigma = 0.3530`:

.. math::

    x' = \\frac{x / 255 - 0.2860}{0.3530}

Example
-------
>>> from graphkd.data import FashionMNIST
>>> if FashionMNIST.find_files(None, train=False) is not None:
...     test = FashionMNIST(train=False, transform=FashionMNIST.info.test_transform())
...     image, label = test[0]
...     assert image.shape == (1, 28, 28) and 0 <= label < 10
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union

from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets

from graphkd.data.dataset_info import DatasetInfo
from graphkd.data.idx import read_idx_images, read_idx_labels
from graphkd.data.paths import DOWNLOAD_FIX, resolve_root

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class FashionMNIST(Dataset):
    """Fashion-MNIST as ``(image, label)`` pairs, from local IDX files or a download.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Data directory searched first (see the module docstring); defaults to
        :func:`graphkd.data.default_data_dir`. Downloads go to ``root/FashionMNIST/raw``.
    train : bool, default True
        Training split (60 000 samples) or test split (10 000).
    transform : callable, optional
        Applied to the ``"L"``-mode PIL image, e.g. ``FashionMNIST.info.train_transform()``.
        ``None`` returns the PIL image.
    target_transform : callable, optional
        Applied to the ``int`` label.
    download : bool, default False
        When no local copy is found, download with torchvision (needs network access).

    Attributes
    ----------
    data : torch.Tensor
        ``uint8`` images, shape ``(N, 28, 28)``.
    targets : torch.Tensor
        ``int64`` labels, shape ``(N,)``, in ``0 .. 9``.
    images_file, labels_file : pathlib.Path
        The IDX files read.

    Raises
    ------
    FileNotFoundError
        No copy found and ``download=False``; the message lists the directories searched.
    ValueError
        A damaged file, or image and label files of different lengths.

    Example
    -------
    >>> from graphkd.data import FashionMNIST
    >>> FashionMNIST.info.num_classes, FashionMNIST.info.image_size
    (10, 28)
    """

    #: Shape, size and normalisation of Fashion-MNIST.
    info = DatasetInfo(
        name="fashion_mnist",
        num_classes=10,
        in_channels=1,
        image_size=28,
        mean=(0.2860,),
        std=(0.3530,),
        crop_padding=2,
        train_size=60000,
        test_size=10000,
    )
    #: Class names, by label.
    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    #: Where Debian's ``dataset-fashion-mnist`` package installs the files.
    system_dir = Path("/usr/share/datasets/fashion-mnist")

    def __init__(
        self,
        root: Optional[Union[str, os.PathLike[str]]] = None,
        train: bool = True,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        download: bool = False,
    ) -> None:
        self.root = resolve_root(root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        found = self.find_files(root, train)
        if found is None and download:
            try:
                tv_datasets.FashionMNIST(str(self.root), train=train, download=True)
            except Exception as error:  # urllib, http and archive errors alike
                raise FileNotFoundError(self._missing_message(root, download, error)) from None
            found = self.find_files(root, train)
        if found is None:
            raise FileNotFoundError(self._missing_message(root, download))
        self.images_file, self.labels_file = found
        fix = (
            f"delete it and {DOWNLOAD_FIX}, or reinstall the system copy with "
            f"`apt-get install --reinstall dataset-fashion-mnist` (files in {self.system_dir})"
        )
        self.data = read_idx_images(self.images_file, fix=fix)
        self.targets = read_idx_labels(self.labels_file, fix=fix)
        if len(self.data) != len(self.targets):
            raise ValueError(
                f"{str(self.images_file)!r} holds {len(self.data)} images but "
                f"{str(self.labels_file)!r} holds {len(self.targets)} labels; the two files "
                f"come from different copies: keep one matching pair in a directory"
            )

    @classmethod
    def search_dirs(cls, root: Optional[Union[str, os.PathLike[str]]]) -> List[Path]:
        """The directories searched, in order, for a given ``root`` (the system copy only
        when ``root`` is ``None``)."""
        base = resolve_root(root)
        found_in = [base, base / "FashionMNIST" / "raw", base / "fashion-mnist"]
        return found_in if root is not None else [*found_in, cls.system_dir]

    @classmethod
    def find_files(
        cls, root: Optional[Union[str, os.PathLike[str]]], train: bool = True
    ) -> Optional[Tuple[Path, Path]]:
        """The ``(images, labels)`` IDX files of a split, or ``None`` when not found.

        The first directory of :meth:`search_dirs` holding both files wins; in each
        directory the plain file is preferred to its ``.gz`` twin.
        """
        for directory in cls.search_dirs(root):
            paths = [_existing(directory, name) for name in _FILES[train]]
            if paths[0] is not None and paths[1] is not None:
                return paths[0], paths[1]
        return None

    def _missing_message(
        self,
        root: Optional[Union[str, os.PathLike[str]]],
        download: bool,
        error: Optional[Exception] = None,
    ) -> str:
        names = " and ".join(f"{name}[.gz]" for name in _FILES[self.train])
        searched = ", ".join(str(d) for d in self.search_dirs(root))
        message = f"Fashion-MNIST files {names} not found; searched {searched}"
        place = (
            f"put the IDX files in {self.root}, or install the system copy with "
            "`apt-get install dataset-fashion-mnist`"
            + (" and give no root" if root is not None else "")
        )
        if error is not None:
            return message + (
                f"; downloading them into {self.root} failed ({type(error).__name__}: "
                f"{error}). To fix: check network access, or {place}"
            )
        if download:
            return message + f"; the download left no files behind. To fix: {place}"
        return message + f". To fix: {place}, or {DOWNLOAD_FIX}"

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        image: Any = Image.fromarray(self.data[index].numpy())
        label: Any = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split!r}, size={len(self)}, root={str(self.root)!r})"


def _existing(directory: Path, name: str) -> Optional[Path]:
    """``directory/name`` or ``directory/name.gz``, whichever exists first, else ``None``."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None
