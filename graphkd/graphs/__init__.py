"""Knowledge-graph topologies, edge featurisers, transforms and learnable graph modules."""

from graphkd.graphs import edge_features
from graphkd.graphs.attention_graph import MultiHeadAttentionGraph
from graphkd.graphs.checks import check_relational_batch
from graphkd.graphs.complete import complete_graph
from graphkd.graphs.entropy import joint_entropy, prediction_entropy
from graphkd.graphs.knn import knn_graph, pairwise_distance
from graphkd.graphs.networkx import to_networkx
from graphkd.graphs.projector import Projector
from graphkd.graphs.svd_embedding import svd_embedding, top_right_singular_vectors
from graphkd.graphs.tagconv_encoder import TAGConvEncoder
from graphkd.graphs.transforms import (
    drop_intra_view,
    keep_one_direction,
    percentile_mask,
    prune_by_mask,
    prune_by_percentile,
)
from graphkd.graphs.views import bipartite_graph, class_graph, view_graph
from graphkd.knowledge_graph import KnowledgeGraph

__all__ = [
    "KnowledgeGraph",
    "MultiHeadAttentionGraph",
    "Projector",
    "TAGConvEncoder",
    "bipartite_graph",
    "check_relational_batch",
    "class_graph",
    "complete_graph",
    "drop_intra_view",
    "edge_features",
    "joint_entropy",
    "keep_one_direction",
    "knn_graph",
    "pairwise_distance",
    "percentile_mask",
    "prediction_entropy",
    "prune_by_mask",
    "prune_by_percentile",
    "svd_embedding",
    "to_networkx",
    "top_right_singular_vectors",
    "view_graph",
]
