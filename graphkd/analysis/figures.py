"""Pictures of the analysis: CAM overlays, relation heatmaps and kNN graph drawings.

Each function returns a :class:`matplotlib.figure.Figure` made with ``pyplot`` (so
notebooks and the documentation gallery show it); save it with ``figure.savefig`` and
free it with ``matplotlib.pyplot.close(figure)``. Matplotlib is an optional dependency:
``pip install graphkd[viz]``.

Example
-------
>>> import torch
>>> import matplotlib.pyplot as plt
>>> figure = plot_relations({"teacher": torch.randn(6, 3), "student": torch.randn(6, 3)})
>>> len(figure.axes) >= 2
True
>>> plt.close(figure)
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import networkx as nx
import torch
from torch import Tensor

from graphkd.analysis.prediction_relation import prediction_relation
from graphkd.graphs import knn_graph, to_networkx


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "the analysis figures need matplotlib; install it with `pip install graphkd[viz]`"
        ) from error
    return plt


def _displayable(image: Tensor) -> Tuple[Any, Optional[str]]:
    """A ``(C, H, W)`` image as an ``(H, W[, 3])`` array in [0, 1] and its colour map."""
    image = image.detach().float().cpu()
    if image.max() > 1.0:
        image = image / 255.0
    else:
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else torch.zeros_like(image)
    if image.shape[0] == 1:
        return image[0].numpy(), "gray"
    return image.permute(1, 2, 0).numpy(), None


def plot_cam_overlays(images: Tensor, maps: Mapping[str, Tensor], alpha: float = 0.5) -> Any:
    """A grid of images (rows) with each model's attention map laid over them (columns).

    Parameters
    ----------
    images : Tensor
        ``(N, C, H, W)``: ``uint8`` pixels, or floats (shown min-max scaled).
    maps : mapping of str to Tensor
        Model name -> ``(N, H, W)`` maps in ``[0, 1]`` (e.g. from :func:`cam`).
    alpha : float, default 0.5
        Opacity of the maps.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    for name, values in maps.items():
        if values.shape != (images.shape[0], *images.shape[-2:]):
            raise ValueError(
                f"the maps of {name!r} have shape {tuple(values.shape)}; they must be "
                f"(N, H, W) = {(images.shape[0], *images.shape[-2:])}, one per image"
            )
    plt = _pyplot()
    rows, cols = images.shape[0], len(maps) + 1
    figure, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows), squeeze=False)
    for row in range(rows):
        picture, colours = _displayable(images[row])
        axes[row][0].imshow(picture, cmap=colours)
        for col, values in enumerate(maps.values(), start=1):
            axes[row][col].imshow(picture, cmap=colours)
            axes[row][col].imshow(
                values[row].detach().float().cpu().numpy(),
                cmap="jet",
                alpha=alpha,
                vmin=0,
                vmax=1,
            )
    for col, title in enumerate(["image", *maps]):
        axes[0][col].set_title(title, fontsize=9)
    for axis in figure.axes:
        axis.axis("off")
    figure.tight_layout()
    return figure


def plot_relations(
    logits: Mapping[str, Tensor],
    labels: Optional[Tensor] = None,
    difference: Optional[Tuple[str, str]] = None,
) -> Any:
    """Heatmaps of each model's :func:`prediction_relation` on one batch.

    Parameters
    ----------
    logits : mapping of str to Tensor
        Model name -> ``(B, C)`` logits of the same batch.
    labels : Tensor, optional
        ``(B,)``; when given, samples are sorted by label so classes form blocks.
    difference : (str, str), optional
        Two names whose absolute relation difference :math:`|R_a - R_b|` gets a last panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not logits:
        raise ValueError("no logits to draw; pass {model name: (B, C) logits}")
    sizes = {name: int(z.shape[0]) for name, z in logits.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the logits cover different batches {sizes}; use one batch for all")
    order = torch.argsort(labels.cpu(), stable=True) if labels is not None else None
    relations: Dict[str, Tensor] = {}
    for name, z in logits.items():
        relation = prediction_relation(z).cpu()
        relations[name] = relation if order is None else relation[order][:, order]
    gap: Optional[Tuple[str, Tensor]] = None
    if difference is not None:
        first, second = difference
        missing = [n for n in difference if n not in relations]
        if missing:
            raise ValueError(f"difference names {missing} not among the logits {list(logits)}")
        gap = (f"|{first} - {second}|", (relations[first] - relations[second]).abs())
    plt = _pyplot()
    count = len(relations) + (gap is not None)
    figure, axes = plt.subplots(
        1, count, figsize=(3.2 * count, 3.0), squeeze=False, layout="constrained"
    )
    for axis, (title, values) in zip(axes[0], relations.items()):
        image = axis.imshow(values.numpy(), cmap="viridis", vmin=0, vmax=1)
        axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=list(axes[0][: len(relations)]), shrink=0.8)
    if gap is not None:  # its own scale: differences are often small
        image = axes[0][-1].imshow(gap[1].numpy(), cmap="magma", vmin=0)
        axes[0][-1].set_title(gap[0], fontsize=9)
        figure.colorbar(image, ax=axes[0][-1], shrink=0.8)
    for axis in axes[0]:
        axis.set_xticks([])
        axis.set_yticks([])
    return figure


def plot_knn_graph(
    embedding: Tensor, labels: Optional[Tensor] = None, k: int = 5, title: str = ""
) -> Any:
    """Draw the kNN graph of a batch (:func:`~graphkd.graphs.knn_graph`, cosine) with networkx.

    The graph goes through :func:`graphkd.graphs.to_networkx`; nodes are placed by a
    spring layout (seed 0) and coloured by label.

    Parameters
    ----------
    embedding : Tensor
        ``(B, D)`` sample embeddings.
    labels : Tensor, optional
        ``(B,)`` node colours.
    k : int, default 5
        Neighbours per node (the node itself excluded).
    title : str
        Axis title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    graph = to_networkx(knn_graph(embedding.detach().float(), k, include_self=False))
    undirected = nx.Graph(graph)
    positions = nx.spring_layout(undirected, seed=0)
    colouring: Dict[str, Any] = {"node_color": "tab:blue"}
    if labels is not None:
        top = max(9, int(labels.max()))
        colouring = {
            "node_color": labels.cpu().tolist(),
            "cmap": "tab10" if top == 9 else "viridis",
            "vmin": 0,
            "vmax": top,
        }
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    nx.draw_networkx_edges(undirected, positions, ax=axis, alpha=0.3, width=0.6)
    nx.draw_networkx_nodes(undirected, positions, ax=axis, node_size=40, **colouring)
    axis.set_title(title or f"{k}-NN graph", fontsize=9)
    axis.axis("off")
    return figure
