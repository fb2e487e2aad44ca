"""train_val_gap: training minus validation accuracy."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from graphkd.analysis import TrainValGap, train_val_gap


def test_gap_equals_a_hand_computation_and_restores_training_mode():
    net = torch.nn.Linear(3, 4).train()
    x = torch.randn(10, 3)
    predicted = net(x).argmax(1)
    wrong = (predicted + 1) % 4
    train_labels = predicted.clone()
    train_labels[:2] = wrong[:2]  # 8 of 10 right
    val_labels = wrong.clone()
    val_labels[:3] = predicted[:3]  # 3 of 10 right
    train = DataLoader(TensorDataset(x, train_labels, torch.arange(10)), batch_size=4)
    val = DataLoader(TensorDataset(x, val_labels), batch_size=3)
    result = train_val_gap(net, train, val)
    assert result == TrainValGap(train_acc=80.0, val_acc=30.0, gap=50.0)
    assert net.training


def test_empty_loaders_are_rejected():
    net = torch.nn.Linear(3, 2)
    full = DataLoader(TensorDataset(torch.randn(2, 3), torch.zeros(2, dtype=torch.long)))
    empty = DataLoader(TensorDataset(torch.randn(0, 3), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="train loader yielded no batch"):
        train_val_gap(net, empty, full)
    with pytest.raises(ValueError, match="validation loader yielded no batch"):
        train_val_gap(net, full, empty)
