"""The target/non-target split of labelled responses and its label checks (DKD, NKD)."""

import pytest
import torch

from graphkd import Responses
from graphkd.distill.class_split import check_pair_labels, split_classes


def test_split_classes_keeps_class_order_at_both_ends():
    logits = torch.arange(15.0).view(3, 5)
    labels = torch.tensor([0, 4, 2])
    target, others = split_classes(logits, Responses(logits, labels=labels))
    torch.testing.assert_close(target, torch.tensor([[0.0], [9.0], [12.0]]))
    expected = torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8], [10, 11, 13, 14]])
    torch.testing.assert_close(others, expected)


def test_check_pair_labels_names_the_side_at_fault():
    good = Responses(torch.zeros(2, 3), labels=torch.tensor([0, 2]))
    out_of_range = Responses(torch.zeros(2, 3), labels=torch.tensor([0, 3]))
    check_pair_labels(good, good)
    with pytest.raises(ValueError, match="the teacher responses carry labels outside"):
        check_pair_labels(out_of_range, good)
    with pytest.raises(ValueError, match="the student responses carry no labels"):
        check_pair_labels(good, Responses(torch.zeros(2, 3)))
