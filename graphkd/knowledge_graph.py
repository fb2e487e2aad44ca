"""The graph type every graphkd builder returns: DGL topology plus knowledge fields."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from graphkd._dgl import dgl, dgl_supports


class KnowledgeGraph:
    """A (possibly batched) directed graph whose fields carry distillation knowledge.

    The topology is a :class:`dgl.DGLGraph`; the fields live in ``ndata`` (``(N, ...)``)
    and ``edata`` (``(E, ...)``) on the compute device. The two are kept apart because
    the PyPI build of DGL holds graphs on the CPU only while training usually runs on a
    GPU: ``topology`` is built on the tensors' device when DGL can hold it there and on
    the CPU otherwise, and :mod:`graphkd.ops` picks DGL or PyTorch kernels accordingly.
    Edges point from ``src`` to ``dst``; messages flow the same way.

    Parameters
    ----------
    src, dst : Tensor
        ``(E,)`` int64 endpoints of each edge, on the compute device.
    num_nodes : int
        ``N``, the number of nodes (isolated nodes allowed).
    ndata, edata : dict of str to Tensor, optional
        Node fields ``(N, ...)`` and edge fields ``(E, ...)``.
    batch_num_nodes, batch_num_edges : sequence of int, optional
        Sizes of the member graphs of a batched graph (default: one graph).
    block : tuple of 4 int, optional
        ``(src_start, num_src, dst_start, num_dst)`` when the edges are exactly every
        pair of a source range and a destination range, in row-major order (complete
        and complete bipartite graphs). :mod:`graphkd.ops` then computes with dense
        broadcasting instead of gathers, with identical results.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([1, 2]), num_nodes=3)
    >>> g.ndata["h"] = torch.randn(3, 4)
    >>> g.num_edges, g.topology.num_nodes()
    (2, 3)
    """

    def __init__(
        self,
        src: Tensor,
        dst: Tensor,
        num_nodes: int,
        ndata: Optional[Dict[str, Tensor]] = None,
        edata: Optional[Dict[str, Tensor]] = None,
        batch_num_nodes: Optional[Sequence[int]] = None,
        batch_num_edges: Optional[Union[Sequence[int], Tensor]] = None,
        block: Optional[Tuple[int, int, int, int]] = None,
    ) -> None:
        if src.shape != dst.shape or src.dim() != 1:
            raise ValueError(
                f"src and dst must be 1-D and of equal length, got {tuple(src.shape)} and "
                f"{tuple(dst.shape)}"
            )
        if src.device != dst.device:
            raise ValueError(f"src is on {src.device} but dst on {dst.device}; move both")
        self.src = src.long()
        self.dst = dst.long()
        self.num_nodes = int(num_nodes)
        self.ndata: Dict[str, Tensor] = dict(ndata or {})
        self.edata: Dict[str, Tensor] = dict(edata or {})
        self.batch_num_nodes: List[int] = list(batch_num_nodes or [self.num_nodes])
        # a tensor (from edge_subgraph) stays on the device until someone asks for the list
        self._batch_num_edges: Union[List[int], Tensor] = (
            batch_num_edges
            if isinstance(batch_num_edges, Tensor)
            else list(batch_num_edges or [self.num_edges])
        )
        self._topology: Optional[dgl.DGLGraph] = None
        if block is not None and block[1] * block[3] != self.num_edges:
            raise ValueError(
                f"block {block} describes {block[1] * block[3]} edges but the graph has "
                f"{self.num_edges}"
            )
        self.block = block

    @property
    def num_edges(self) -> int:
        """``E``, the number of edges."""
        return int(self.src.shape[0])

    @property
    def device(self) -> torch.device:
        """The compute device of the edge endpoints and fields."""
        return self.src.device

    @property
    def batch_num_edges(self) -> List[int]:
        """Edges of each member graph (a host synchronisation after pruning on a GPU)."""
        if isinstance(self._batch_num_edges, Tensor):
            self._batch_num_edges = self._batch_num_edges.tolist()
        return self._batch_num_edges

    @property
    def batch_size(self) -> int:
        """How many member graphs this (batched) graph holds."""
        return len(self.batch_num_nodes)

    @property
    def topology(self) -> dgl.DGLGraph:
        """The DGL graph of the edges, on ``device`` when DGL can hold it there, else CPU."""
        if self._topology is None:
            device = self.device if dgl_supports(self.device) else torch.device("cpu")
            graph = dgl.graph((self.src.to(device), self.dst.to(device)), num_nodes=self.num_nodes)
            graph.set_batch_num_nodes(torch.tensor(self.batch_num_nodes, device=device))
            graph.set_batch_num_edges(torch.tensor(self.batch_num_edges, device=device))
            self._topology = graph
        return self._topology

    def in_degrees(self) -> Tensor:
        """``(N,)`` number of edges arriving at each node."""
        ones = torch.ones_like(self.dst)
        return torch.zeros(self.num_nodes, dtype=torch.long, device=self.device).index_add_(
            0, self.dst, ones
        )

    def field(self, name: str, on: str) -> Tensor:
        """The node (``on="nodes"``) or edge (``on="edges"``) field ``name``."""
        store = {"nodes": self.ndata, "edges": self.edata}.get(on)
        if store is None:
            raise ValueError(f"on must be 'nodes' or 'edges', got {on!r}")
        if name not in store:
            available = ", ".join(sorted(store)) or "none"
            raise ValueError(f"the graph has no {on[:-1]} field {name!r}; available: {available}")
        return store[name]

    def edge_subgraph(self, keep: Tensor) -> KnowledgeGraph:
        """The graph with the same nodes and only the edges where ``keep`` is true.

        Node fields are shared, edge fields are indexed; the member-graph edge counts are
        recomputed so batched graphs stay batched.
        """
        if keep.dtype != torch.bool or keep.shape != (self.num_edges,):
            raise ValueError(
                f"keep must be a bool mask of shape ({self.num_edges},), got "
                f"{keep.dtype} {tuple(keep.shape)}"
            )
        member = torch.repeat_interleave(
            torch.arange(self.batch_size, device=self.device),
            torch.as_tensor(self._batch_num_edges, device=self.device),
            output_size=self.num_edges,  # known, so no host synchronisation
        )
        kept_per_member = torch.zeros(self.batch_size, dtype=torch.long, device=self.device)
        kept_per_member.index_add_(0, member, keep.long())
        return KnowledgeGraph(
            self.src[keep],
            self.dst[keep],
            self.num_nodes,
            ndata=self.ndata,
            edata={k: v[keep] for k, v in self.edata.items()},
            batch_num_nodes=self.batch_num_nodes,
            batch_num_edges=kept_per_member,
        )

    def same_topology(self) -> KnowledgeGraph:
        """A graph with the same nodes and edges and no fields (shares the DGL topology)."""
        graph = KnowledgeGraph(
            self.src,
            self.dst,
            self.num_nodes,
            batch_num_nodes=self.batch_num_nodes,
            batch_num_edges=self._batch_num_edges,
            block=self.block,
        )
        graph._topology = self._topology
        return graph

    def to_dgl(self) -> dgl.DGLGraph:
        """A new :class:`dgl.DGLGraph` carrying the fields (moved to the topology's device)."""
        graph = self.topology.clone()
        for name, value in self.ndata.items():
            graph.ndata[name] = value.to(graph.device)
        for name, value in self.edata.items():
            graph.edata[name] = value.to(graph.device)
        return graph

    @classmethod
    def from_dgl(cls, graph: dgl.DGLGraph) -> KnowledgeGraph:
        """Wrap a homogeneous DGL graph, copying references to its fields."""
        src, dst = graph.edges()
        return cls(
            src,
            dst,
            graph.num_nodes(),
            ndata=dict(graph.ndata),
            edata=dict(graph.edata),
            batch_num_nodes=graph.batch_num_nodes().tolist(),
            batch_num_edges=graph.batch_num_edges().tolist(),
        )

    @staticmethod
    def batch(graphs: Sequence[KnowledgeGraph]) -> KnowledgeGraph:
        """One graph holding ``graphs`` as disjoint members, fields concatenated.

        Only fields present in every member are kept, as :func:`dgl.batch` does.
        """
        if not graphs:
            raise ValueError("cannot batch an empty list of graphs")
        offsets = [0]
        for graph in graphs[:-1]:
            offsets.append(offsets[-1] + graph.num_nodes)
        common_n = set.intersection(*(set(g.ndata) for g in graphs))
        common_e = set.intersection(*(set(g.edata) for g in graphs))
        return KnowledgeGraph(
            torch.cat([g.src + o for g, o in zip(graphs, offsets)]),
            torch.cat([g.dst + o for g, o in zip(graphs, offsets)]),
            sum(g.num_nodes for g in graphs),
            ndata={k: torch.cat([g.ndata[k] for g in graphs]) for k in sorted(common_n)},
            edata={k: torch.cat([g.edata[k] for g in graphs]) for k in sorted(common_e)},
            batch_num_nodes=[n for g in graphs for n in g.batch_num_nodes],
            batch_num_edges=[n for g in graphs for n in g.batch_num_edges],
        )

    def __repr__(self) -> str:
        return (
            f"KnowledgeGraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
            f"batch_size={self.batch_size}, ndata={sorted(self.ndata)}, "
            f"edata={sorted(self.edata)}, device={self.device})"
        )
