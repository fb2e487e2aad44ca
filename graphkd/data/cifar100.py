"""CIFAR-100 (Krizhevsky, 2009) on torchvision, with clear errors and standard transforms.

60 000 RGB 32 x 32 images of 100 classes (50 000 train, 10 000 test), read from
torchvision's pickle layout ``root/cifar-100-python/{train,test,meta}``. Standard
normalisation uses the training-set statistics:

.. math::

    \\mu = (0.5071, 0.4865, 0.4409), \\qquad \\sigma = (0.2673, 0.2564, 0.2762)

and the standard training augmentation is a random 32 x 32 crop after 4 pixels of zero
padding, then a horizontal flip.

Example
-------
>>> from graphkd.data import CIFAR100
>>> CIFAR100.info.num_classes, CIFAR100.info.mean
(100, (0.5071, 0.4865, 0.4409))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

from torchvision import datasets as tv_datasets
from torchvision.datasets.utils import check_md5

from graphkd.data.dataset_info import DatasetInfo
from graphkd.data.paths import DOWNLOAD_FIX, resolve_root


class CIFAR100(tv_datasets.CIFAR100):
    """CIFAR-100 as ``(image, label)`` pairs: torchvision's dataset with graphkd's checks.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Directory holding (or receiving) ``cifar-100-python``; defaults to
        :func:`graphkd.data.default_data_dir`.
    train : bool, default True
        Training split (50 000 samples) or test split (10 000).
    transform : callable, optional
        Applied to the RGB PIL image, e.g. ``CIFAR100.info.train_transform()``.
        ``None`` returns the PIL image.
    target_transform : callable, optional
        Applied to the ``int`` label.
    download : bool, default False
        Download and extract the archive into ``root`` when it is not there yet.
    verify_checksums : bool, default True
        Check the MD5 sums of the official files. Pass ``False`` for a copy of your own in
        the same layout (e.g. a subset).

    Attributes
    ----------
    data : numpy.ndarray
        ``uint8`` images, shape ``(N, 32, 32, 3)``.
    targets : list of int
        Fine labels in ``0 .. 99``.
    classes : list of str
        Fine class names, by label.

    Raises
    ------
    FileNotFoundError
        A file of ``cifar-100-python`` is missing and ``download=False``.
    ValueError
        A file fails its MD5 check.

    Example
    -------
    >>> from graphkd.data import CIFAR100
    >>> CIFAR100.info.image_size, CIFAR100.info.crop_padding
    (32, 4)
    """

    #: Shape, size and normalisation of CIFAR-100.
    info = DatasetInfo(
        name="cifar100",
        num_classes=100,
        in_channels=3,
        image_size=32,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        crop_padding=4,
        train_size=50000,
        test_size=10000,
    )

    def __init__(
        self,
        root: Optional[Union[str, os.PathLike[str]]] = None,
        train: bool = True,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        download: bool = False,
        verify_checksums: bool = True,
    ) -> None:
        root = resolve_root(root)
        if not download:
            self._check_files(root / self.base_folder, train, verify_checksums)
        if not download or not verify_checksums:
            # Checked above, or not wanted: torchvision then only checks that files exist.
            self.train_list = [[name, None] for name, _ in type(self).train_list]
            self.test_list = [[name, None] for name, _ in type(self).test_list]
            self.meta = {**type(self).meta, "md5": None}
        try:
            super().__init__(
                str(root),
                train=train,
                transform=transform,
                target_transform=target_transform,
                download=download,
            )
        except Exception as error:  # urllib, http and archive errors of the download
            if not download:
                raise
            raise FileNotFoundError(
                f"CIFAR-100 is not in {str(root / self.base_folder)!r} and downloading it "
                f"there failed ({type(error).__name__}: {error}); to fix: check network "
                f"access, or extract cifar-100-python.tar.gz into {str(root)!r}"
            ) from None

    @classmethod
    def find_files(
        cls, root: Optional[Union[str, os.PathLike[str]]], train: bool = True
    ) -> Optional[Tuple[Path, Path]]:
        """The ``(split, meta)`` files of a split under ``root``, or ``None`` when missing."""
        folder = resolve_root(root) / cls.base_folder
        split = (cls.train_list if train else cls.test_list)[0][0]
        paths = (folder / split, folder / cls.meta["filename"])
        return paths if all(path.is_file() for path in paths) else None

    def _check_files(self, folder: Path, train: bool, verify_checksums: bool) -> None:
        """Raise a clear error for a missing or (with ``verify_checksums``) damaged file."""
        split = self.train_list if train else self.test_list
        files = self.train_list + self.test_list + [[self.meta["filename"], self.meta["md5"]]]
        for name, md5 in files:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(
                    f"CIFAR-100 file {str(path)!r} not found; to fix: {DOWNLOAD_FIX}, or "
                    f"extract cifar-100-python.tar.gz into {str(folder.parent)!r}"
                )
            needed = [name, md5] in split or name == self.meta["filename"]
            if verify_checksums and needed and not check_md5(str(path), md5):
                raise ValueError(
                    f"CIFAR-100 file {str(path)!r} fails its MD5 check: it is damaged or not "
                    f"the official file; to fix: delete {str(folder)!r} and {DOWNLOAD_FIX}, "
                    "or pass verify_checksums=False for a copy of your own"
                )
