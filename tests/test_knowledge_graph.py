"""KnowledgeGraph: topology, batching, subgraphs, conversions."""

import pytest
import torch

from graphkd import KnowledgeGraph
from graphkd._dgl import dgl


def test_topology_matches_edges():
    g = KnowledgeGraph(torch.tensor([0, 2]), torch.tensor([1, 1]), num_nodes=4)
    src, dst = g.topology.edges()
    assert src.tolist() == [0, 2] and dst.tolist() == [1, 1]
    assert g.topology.num_nodes() == 4
    assert g.in_degrees().tolist() == [0, 2, 0, 0]


def test_batch_offsets_and_fields():
    a = KnowledgeGraph(
        torch.tensor([0]),
        torch.tensor([1]),
        2,
        ndata={"h": torch.zeros(2, 3)},
        edata={"w": torch.ones(1)},
    )
    b = KnowledgeGraph(
        torch.tensor([1, 2]),
        torch.tensor([0, 0]),
        3,
        ndata={"h": torch.ones(3, 3)},
        edata={"w": torch.zeros(2)},
    )
    batched = KnowledgeGraph.batch([a, b])
    assert batched.src.tolist() == [0, 3, 4] and batched.dst.tolist() == [1, 2, 2]
    assert batched.batch_num_nodes == [2, 3] and batched.batch_num_edges == [1, 2]
    assert batched.ndata["h"].shape == (5, 3) and batched.edata["w"].tolist() == [1, 0, 0]
    assert batched.topology.batch_size == 2


def test_edge_subgraph_keeps_nodes_and_member_counts():
    a = KnowledgeGraph(
        torch.tensor([0, 1]), torch.tensor([1, 0]), 2, edata={"w": torch.tensor([1.0, 2.0])}
    )
    batched = KnowledgeGraph.batch([a, a])
    sub = batched.edge_subgraph(torch.tensor([True, False, False, True]))
    assert sub.num_nodes == 4 and sub.edata["w"].tolist() == [1.0, 2.0]
    assert sub.batch_num_edges == [1, 1]
    with pytest.raises(ValueError, match="bool mask"):
        batched.edge_subgraph(torch.tensor([1, 0, 0, 1]))


def test_same_topology_has_no_fields_and_shares_edges():
    g = KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), 2, ndata={"h": torch.zeros(2)})
    twin = g.same_topology()
    assert twin.src is g.src and not twin.ndata


def test_dgl_round_trip():
    g = KnowledgeGraph(
        torch.tensor([0, 1]),
        torch.tensor([1, 2]),
        3,
        ndata={"h": torch.arange(3.0)},
        edata={"w": torch.tensor([5.0, 6.0])},
    )
    converted = g.to_dgl()
    assert isinstance(converted, dgl.DGLGraph)
    assert converted.edata["w"].tolist() == [5.0, 6.0]
    assert "w" not in g.topology.edata  # nothing leaked onto the cached topology
    back = KnowledgeGraph.from_dgl(converted)
    assert back.ndata["h"].tolist() == [0.0, 1.0, 2.0] and back.src.tolist() == [0, 1]


def test_field_errors_name_available_fields():
    g = KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), 2, edata={"w": torch.ones(1)})
    with pytest.raises(ValueError, match="available: w"):
        g.field("distance", "edges")
    with pytest.raises(ValueError, match="on must be"):
        g.field("w", "links")
    with pytest.raises(ValueError, match="equal length"):
        KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([1]), 2)
