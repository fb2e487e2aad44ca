"""Any class-per-folder image tree, in ImageNet's ``train``/``val`` layout.

The images of class ``c`` lie in ``root/train/c/`` and ``root/val/c/`` (any depth below
the class folder; files with an image extension of torchvision's list: ``.jpg``,
``.jpeg``, ``.png``, ...). The classes are the folder names of ``root/train``, sorted:
label :math:`y` is the position of the class name in that list, for both splits, so the
validation split may hold a subset of the classes. Images are read as RGB.

The :class:`DatasetInfo` comes from the folder (:meth:`ImageFolder.describe`): the
number of classes and the split sizes are counted there; the normalisation is
ImageNet's (the statistics pretrained torchvision and timm networks expect),

.. math::

    \\mu = (0.485, 0.456, 0.406), \\qquad \\sigma = (0.229, 0.224, 0.225),

and the standard transforms are ImageNet's: for training a random-resized crop of side
``image_size`` (224) and a horizontal flip; for evaluation a resize of the shorter edge
to :math:`\\mathrm{round}(8 s / 7)` (256 for :math:`s` = 224) and a centre crop of
``image_size``.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from PIL import Image
>>> root = Path(tempfile.mkdtemp())
>>> for split, name in [("train", "cat"), ("train", "dog"), ("val", "dog")]:
...     (root / split / name).mkdir(parents=True)
...     Image.new("RGB", (40, 30)).save(root / split / name / "0.png")
>>> info = ImageFolder.describe(root, image_size=32)
>>> info.num_classes, info.train_size, info.test_size, info.test_resize
(2, 2, 1, 37)
>>> image, label = ImageFolder(root, train=False, transform=info.test_transform())[0]
>>> image.shape, label
(torch.Size([3, 32, 32]), 1)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

from torchvision import datasets as tv_datasets
from torchvision.datasets import folder as tv_folder
from torchvision.datasets.folder import IMG_EXTENSIONS

from graphkd.data.dataset_info import DatasetInfo
from graphkd.data.paths import resolve_root

#: ImageNet's per-channel mean and standard deviation of RGB values in ``[0, 1]``.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The folder of each split: ``train=True`` -> ``root/train``, ``False`` -> ``root/val``.
SPLIT_FOLDERS = {True: "train", False: "val"}


class ImageFolder(tv_datasets.ImageFolder):
    """A class-per-folder image tree as ``(image, label)`` pairs (ImageNet's layout).

    Parameters
    ----------
    root : str or os.PathLike, optional
        The tree's top folder, holding ``train/<class>/`` and ``val/<class>/``; defaults
        to :func:`graphkd.data.default_data_dir`.
    train : bool, default True
        ``root/train`` or ``root/val``.
    transform : callable, optional
        Applied to the RGB PIL image, e.g. ``info.train_transform()``. ``None`` returns
        the PIL image.
    target_transform : callable, optional
        Applied to the ``int`` label.
    download : bool, default False
        Accepted for a uniform dataset signature and ignored: image folders are never
        downloaded (a missing folder is an error saying where the images belong).
    image_size : int, default 224
        Side of the square crops the standard transforms produce.

    Attributes
    ----------
    info : DatasetInfo
        :meth:`describe` of ``root``.
    classes : list of str
        Class names (``root/train``'s folder names, sorted), by label.
    targets : list of int
        The label of every sample, in dataset order (what memory banks index by).
    samples : list of (str, int)
        Image path and label of every sample.

    Raises
    ------
    FileNotFoundError
        A missing split folder; the message shows the expected layout.
    ValueError
        or a ``val`` class folder that ``train`` lacks.

    Example
    -------
    >>> [SPLIT_FOLDERS[train] for train in (True, False)]
    ['train', 'val']
    """

    def __init__(
        self,
        root: Optional[Union[str, os.PathLike[str]]] = None,
        train: bool = True,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        download: bool = False,
        image_size: int = 224,
    ) -> None:
        base = resolve_root(root)
        self.info = self.describe(base, image_size)
        self.train = train
        self._train_folder = _split_folder(base, True)
        super().__init__(
            str(_split_folder(base, train)),
            transform=transform,
            target_transform=target_transform,
        )

    def find_classes(
        self, directory: Union[str, os.PathLike[str]]
    ) -> Tuple[List[str], Dict[str, int]]:
        """``root/train``'s class folders and their labels, for either split."""
        classes = _class_names(self._train_folder)
        extra = sorted(set(_class_names(Path(directory))) - set(classes))
        if extra:
            raise ValueError(
                f"{os.fspath(directory)!r} has class folders that {str(self._train_folder)!r} "
                f"lacks: {extra[:5]}; every evaluation class needs training images"
            )
        return classes, {name: label for label, name in enumerate(classes)}

    def make_dataset(  # type: ignore[override]
        self,
        directory: Union[str, os.PathLike[str]],
        class_to_idx: Dict[str, int],
        extensions: Optional[Tuple[str, ...]] = None,
        is_valid_file: Optional[Callable[[str], bool]] = None,
        allow_empty: bool = False,
    ) -> List[Tuple[str, int]]:
        """The ``(path, label)`` samples of the classes that have a folder in ``directory``
        (a validation split may hold a subset of the training classes)."""
        present = set(_class_names(Path(directory)))
        kept = {name: label for name, label in class_to_idx.items() if name in present}
        return tv_folder.make_dataset(directory, kept, extensions, is_valid_file)

    @classmethod
    def describe(
        cls, root: Optional[Union[str, os.PathLike[str]]], image_size: int = 224
    ) -> DatasetInfo:
        """The :class:`DatasetInfo` of the tree at ``root``, counted from its folders.

        Parameters
        ----------
        root : str or os.PathLike, optional
            The tree's top folder (default :func:`graphkd.data.default_data_dir`).
        image_size : int, default 224
            Side of the standard crops; the evaluation resize is ``round(8 * image_size / 7)``.

        Returns
        -------
        DatasetInfo
            ``num_classes`` = class folders of ``root/train``; ``train_size`` and
            ``test_size`` = image files under ``root/train`` and ``root/val`` (0 without a
            ``val`` folder); three channels; ImageNet's mean and std.
        """
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(
                f"image_size must be a positive int (pixels of the square crops), got "
                f"{image_size!r}; ImageNet's is 224"
            )
        base = resolve_root(root)
        train_folder = _split_folder(base, True)
        classes = _class_names(train_folder)
        if not classes:
            raise FileNotFoundError(
                f"{str(train_folder)!r} has no class folders; put each class's training "
                "images in <root>/train/<class name>/"
            )
        val_folder = base / SPLIT_FOLDERS[False]
        return DatasetInfo(
            name="image_folder",
            num_classes=len(classes),
            in_channels=3,
            image_size=image_size,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            crop_padding=0,
            train_size=_count_images(train_folder),
            test_size=_count_images(val_folder) if val_folder.is_dir() else 0,
            train_crop="resized",
            test_resize=round(image_size * 8 / 7),
        )


def _split_folder(root: Path, train: bool) -> Path:
    folder = root / SPLIT_FOLDERS[train]
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no folder {str(folder)!r}; an image-folder dataset needs the layout "
            f"<root>/train/<class>/<image> and <root>/val/<class>/<image> (set data.root to "
            f"<root>); image folders are never downloaded"
        )
    return folder


def _class_names(folder: Path) -> List[str]:
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def _count_images(folder: Path) -> int:
    """Image files anywhere below ``folder``'s class folders (as torchvision lists them)."""
    count = 0
    for name in _class_names(folder):
        for _, _, files in os.walk(folder / name, followlinks=True):
            count += sum(1 for file in files if file.lower().endswith(IMG_EXTENSIONS))
    return count
