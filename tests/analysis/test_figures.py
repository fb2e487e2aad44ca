"""The analysis figures: panels, nodes and shape checks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from graphkd.analysis import plot_cam_overlays, plot_knn_graph, plot_relations  # noqa: E402


def test_cam_overlays_show_one_row_per_image_and_one_column_per_model():
    images = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    figure = plot_cam_overlays(images, {"a": torch.rand(3, 8, 8), "b": torch.rand(3, 8, 8)})
    assert len(figure.axes) == 3 * 3
    assert [figure.axes[i].get_title() for i in range(3)] == ["image", "a", "b"]
    plt.close(figure)


def test_relations_draw_each_model_and_the_difference():
    logits = {"t": torch.randn(6, 3), "s": torch.randn(6, 3)}
    figure = plot_relations(logits, torch.tensor([2, 0, 1, 0, 2, 1]), difference=("t", "s"))
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles == ["t", "s", "|t - s|"]
    plt.close(figure)


def test_knn_graph_draws_every_sample():
    figure = plot_knn_graph(torch.randn(10, 4), torch.arange(10) % 3, k=3)
    nodes = figure.axes[0].collections[-1]
    assert len(nodes.get_offsets()) == 10
    plt.close(figure)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="one per image"):
        plot_cam_overlays(torch.zeros(2, 1, 4, 4), {"a": torch.zeros(3, 4, 4)})
    with pytest.raises(ValueError, match="one batch"):
        plot_relations({"a": torch.zeros(2, 3), "b": torch.zeros(3, 3)})
    with pytest.raises(ValueError, match="not among"):
        plot_relations({"a": torch.zeros(2, 3)}, difference=("a", "x"))
