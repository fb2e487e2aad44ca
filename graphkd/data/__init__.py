"""Datasets (CIFAR-100, Fashion-MNIST incl. offline copies, any image-folder tree such as
ImageNet), augmentations and view transforms.

Example
-------
>>> from graphkd.data import dataset_info, list_datasets
>>> list_datasets()
['cifar100', 'fashion_mnist', 'image_folder']
>>> dataset_info("cifar100").num_classes
100
"""

from graphkd.data.cifar100 import CIFAR100
from graphkd.data.cutout import Cutout
from graphkd.data.dataset_info import DatasetInfo
from graphkd.data.datasets import DATASETS, create_dataset, dataset_info, list_datasets
from graphkd.data.device_batches import DeviceBatches
from graphkd.data.ensemble_augmentation import (
    AUGMENTATIONS,
    STRENGTHS,
    ensemble_augmentation,
    light_augmentation,
)
from graphkd.data.ensemble_views import EnsembleSample, EnsembleViews
from graphkd.data.fashion_mnist import FashionMNIST
from graphkd.data.idx import read_idx, read_idx_images, read_idx_labels
from graphkd.data.image_folder import IMAGENET_MEAN, IMAGENET_STD, ImageFolder
from graphkd.data.negative_sampler import NegativeSampler
from graphkd.data.paths import default_data_dir
from graphkd.data.seeded_samples import SeededSamples
from graphkd.data.timm_augmentation import TimmAugmentation
from graphkd.data.views import (
    TwoViewDataset,
    TwoViews,
    auto_augment_cutout,
    rand_augment,
    weak_augmentation,
)
from graphkd.data.with_index import WithIndex

__all__ = [
    "AUGMENTATIONS",
    "CIFAR100",
    "DATASETS",
    "STRENGTHS",
    "Cutout",
    "DatasetInfo",
    "DeviceBatches",
    "EnsembleSample",
    "EnsembleViews",
    "FashionMNIST",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageFolder",
    "NegativeSampler",
    "SeededSamples",
    "TimmAugmentation",
    "TwoViewDataset",
    "TwoViews",
    "WithIndex",
    "auto_augment_cutout",
    "create_dataset",
    "dataset_info",
    "default_data_dir",
    "ensemble_augmentation",
    "light_augmentation",
    "list_datasets",
    "rand_augment",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "weak_augmentation",
]
