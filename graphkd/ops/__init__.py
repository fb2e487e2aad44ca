"""Graph kernels: DGL's sparse kernels, with PyTorch equivalents for other devices."""

from graphkd.ops.backend import current_backend, dgl_supports, set_backend, use_backend
from graphkd.ops.destination_feature import destination_feature
from graphkd.ops.divide_by_destination import divide_by_destination
from graphkd.ops.edge_difference import edge_difference
from graphkd.ops.edge_dot import edge_dot
from graphkd.ops.edge_softmax import edge_softmax
from graphkd.ops.neighbour_sum import incoming_edge_sum, neighbour_sum
from graphkd.ops.normalize_incoming import normalize_incoming

__all__ = [
    "current_backend",
    "destination_feature",
    "dgl_supports",
    "divide_by_destination",
    "edge_difference",
    "edge_dot",
    "edge_softmax",
    "incoming_edge_sum",
    "neighbour_sum",
    "normalize_incoming",
    "set_backend",
    "use_backend",
]
