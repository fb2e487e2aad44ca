"""Graph kernels, each with a dense, a DGL and a PyTorch implementation, and the one
dispatcher that chooses between them.

Every kernel here (and every Gram rewrite of a method's loss, :mod:`graphkd.ops.gram`)
is registered with its implementations, which hold only math; :func:`select`, in
:mod:`graphkd.ops.backend`, alone decides which one runs:

* backend ``"auto"`` (the default): the dense implementation on a graph whose edges form
  one full block (broadcasts and matrix products, :mod:`graphkd.ops.dense_block`; for
  RKD, VRM and NST, their Gram rewrites), otherwise DGL's kernels where the installed DGL can
  hold the graph on the tensors' device, else PyTorch;
* ``"dgl"``: DGL's kernels always; every method then builds its graph and its graph loss
  runs through DGL (on the CPU with the PyPI build of DGL);
* ``"torch"``: the PyTorch kernels always.

All implementations give the same values and gradients (tested for every kernel and
for every registered method), so the backend changes speed and memory, not results.

Every kernel follows DGL's conventions (``dgl.ops``): its first argument is the graph, a
:class:`~graphkd.KnowledgeGraph` with ``E`` edges over ``N`` nodes; then come node
features ``(N, *)`` (a row per node) and edge values ``(E, *)`` (a row per edge, in edge
order), whose trailing dims ``*`` (e.g. attention heads) are carried through, each
computed independently. A reduction over a node's incoming edges is 0 at a node that
has none. Each kernel's ``Shapes:`` line says, in these letters, what it takes and
returns.

Example
-------
>>> import torch
>>> from graphkd import ops
>>> from graphkd.graphs import complete_graph
>>> graph, x = complete_graph(3), torch.randn(3, 4, dtype=torch.float64)
>>> with ops.use_backend("dgl"):
...     through_dgl = ops.edge_difference(graph, x)
>>> torch.equal(through_dgl, ops.edge_difference(graph, x))
True
"""

from graphkd.ops.backend import (
    KERNELS,
    Kernel,
    current_backend,
    dgl_supports,
    list_kernels,
    select,
    set_backend,
    use_backend,
)
from graphkd.ops.destination_feature import destination_feature
from graphkd.ops.divide_by_destination import divide_by_destination
from graphkd.ops.edge_difference import edge_difference
from graphkd.ops.edge_dot import edge_dot
from graphkd.ops.edge_softmax import edge_log_softmax, edge_softmax
from graphkd.ops.gram import GRAM_REWRITES, GramRewrite
from graphkd.ops.neighbour_sum import incoming_edge_max, incoming_edge_sum, neighbour_sum
from graphkd.ops.normalize_incoming import normalize_incoming

__all__ = [
    "GRAM_REWRITES",
    "GramRewrite",
    "KERNELS",
    "Kernel",
    "current_backend",
    "destination_feature",
    "dgl_supports",
    "divide_by_destination",
    "edge_difference",
    "edge_dot",
    "edge_log_softmax",
    "edge_softmax",
    "incoming_edge_max",
    "incoming_edge_sum",
    "list_kernels",
    "neighbour_sum",
    "normalize_incoming",
    "select",
    "set_backend",
    "use_backend",
]
