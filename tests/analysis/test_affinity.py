"""affinity: accuracy ratio of augmented to lightly augmented images."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from graphkd.analysis import affinity


class MeanOfLeftHalf(nn.Module):
    """Class 1 when the left half of the image is brighter than the right half."""

    def forward(self, x):
        left, right = (
            x[..., : x.shape[-1] // 2].mean((1, 2, 3)),
            x[..., x.shape[-1] // 2 :].mean((1, 2, 3)),
        )
        return torch.stack([right, left], dim=1)


class Constant(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([0.0, 1.0]))

    def forward(self, x):
        return self.bias.expand(x.shape[0], 2)


def loader(images, labels, batch_size=3):
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size)


def identity(image):
    return image


def images_and_labels():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 1, 6, 6), dtype=torch.uint8, generator=generator)
    labels = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    return images, labels


def test_the_identity_augmentation_has_affinity_one():
    images, labels = images_and_labels()
    data = loader(images, labels)
    assert affinity(MeanOfLeftHalf(), identity, data, light=identity) == 1.0


def test_ratio_equals_a_hand_computation():
    images, labels = images_and_labels()
    model = MeanOfLeftHalf()
    x = images.float() / 255
    plain = (model(x).argmax(1) == labels).float().mean()
    flipped = (model(x.flip(-1)).argmax(1) == labels).float().mean()
    assert 0 < plain < 1  # the test can tell the two apart
    result = affinity(model, lambda image: image.flip(-1), loader(images, labels), light=identity)
    assert result == pytest.approx(float(flipped / plain))


def test_preprocess_maps_augmented_batches_to_model_inputs():
    images, labels = images_and_labels()
    model = MeanOfLeftHalf()
    seen = []

    def preprocess(batch):
        seen.append(batch.dtype)
        return batch.float().neg()  # swaps the prediction of every image

    negated = (model(-images.float()).argmax(1) == labels).float().mean()
    result = affinity(
        model, lambda i: i.flip(-1), loader(images, labels), light=identity, preprocess=preprocess
    )
    flipped = (model(-images.flip(-1).float()).argmax(1) == labels).float().mean()
    assert result == pytest.approx(float(flipped / negated))
    assert set(seen) == {torch.uint8}


def test_default_light_crop_runs_and_a_constant_model_is_unaffected():
    images, labels = images_and_labels()
    assert affinity(Constant(), lambda i: i.flip(-1), loader(images, labels)) == 1.0


def test_bad_input_is_rejected():
    images, labels = images_and_labels()
    with pytest.raises(ValueError, match="no batch"):
        affinity(Constant(), identity, loader(images[:0], labels[:0]))
    with pytest.raises(ValueError, match="undefined"):
        affinity(
            Constant(), identity, loader(images, torch.zeros(8, dtype=torch.long)), light=identity
        )
