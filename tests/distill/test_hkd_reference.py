"""HKD step for step beside the reference implementation itself (wyc-ruiker/HKD).

The first half of this file is a port of the authors' code at commit
9434fd859c4fdee2707a0f32f265df95b4fbfabe, test-side only (nothing of it is in the
library):

- ``distiller_zoo/GNN.py``: ``cos_distance_softmax``, ``knn_graph``, ``NCEAverage`` (the
  two memory banks and their update), ``NCESoftmaxLoss``, ``GNNLoss`` (the loss),
  ``Encoder`` (TAGConv), ``Embed``, ``Normalize``;
- ``distiller_zoo/KD.py``: ``DistillKL`` (the KD term of HKD+KD);
- ``dataset/cifar100.py``: the negatives of ``CIFAR100InstanceSample`` (mode ``hkd``);
- ``helper/loops.py``: the training step of ``train_distill`` (``reference_step``).

The code is kept as the reference writes it. Every change is marked ``# PORTED:`` with
its reason; they are of three kinds: the reference runs on one GPU (``.cuda()``,
``.to('cuda:0')``), here the tensors' device is used; DGL 0.5 API that the installed DGL
may lack; and lines added to record the two loss terms for the comparison. The GNN is
DGL's ``TAGConv``, imported by name as the reference does; the installed layer is
checked against DGL 0.5's forward below.

The second half runs the ported reference and graphkd's ``HKDDistiller`` side by side
from the same initialisation (embed heads, TAGConv layers and banks copied), on the same
batches with the same negatives (drawn the reference's way and handed to both), with one
SGD optimiser each, in float64, and compares the loss terms, the banks and the trained
weights after every step. ``benchmarks/hkd_reference.py`` runs the same comparison for a
few hundred steps. Around it: the comparison fails when graphkd departs from the
reference in one setting; the negatives of both are uniform subsets of other classes;
the kNN graphs of float64 predictions are the float64 graphs (graphkd used to round the
distances to float32, which parted the two runs at near-ties).
"""

from __future__ import annotations

import copy
import math
import warnings
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import sparse
from torch import nn

import graphkd  # noqa: F401  (graphkd's import hook lets a plain `import dgl` load)
from graphkd import Responses
from graphkd.data import NegativeSampler
from graphkd.distill.presets.hkd import HKDDistiller

import dgl  # isort: skip
import dgl.backend as B  # isort: skip
import dgl.function as fn  # isort: skip
from dgl import DGLGraph  # isort: skip
from dgl.base import DGLWarning  # isort: skip
from dgl.nn.pytorch import TAGConv  # isort: skip

# PORTED: the reference also imports math (kept), F twice, KNNGraph and numpy's alias;
# unused names are not imported here.

# ======================================================================================
# distiller_zoo/GNN.py
# ======================================================================================

eps = 1e-7
knn = 8


def cos_distance_softmax(x):
    soft = F.softmax(x, dim=2)
    w = soft.norm(p=2, dim=2, keepdim=True)
    return 1 - soft @ B.swapaxes(soft, -1, -2) / (w @ B.swapaxes(w, -1, -2)).clamp(min=eps)


def _dgl_graph(adj):
    """PORTED: ``DGLGraph(adj, readonly=True)``. DGL 2.x still accepts a scipy matrix
    (with deprecation warnings) and builds the same graph as DGL 0.5: one edge
    row -> column per entry. Where a DGL no longer does, ``dgl.from_scipy`` builds
    that graph."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DGLWarning)
            return DGLGraph(adj, readonly=True)
    except (TypeError, dgl.DGLError):
        return dgl.from_scipy(adj)


def knn_graph(x, k):
    if B.ndim(x) == 2:
        x = B.unsqueeze(x, 0)
    n_samples, n_points, _ = B.shape(x)

    dist = cos_distance_softmax(x)

    fil = 1 - torch.eye(n_points, n_points)
    dist = dist * B.unsqueeze(fil, 0).to(x.device)  # PORTED: .cuda()
    dist = dist - B.unsqueeze(torch.eye(n_points, n_points), 0).to(x.device)  # PORTED: .cuda()

    k_indices = B.argtopk(dist, k, 2, descending=False)

    dst = B.copy_to(k_indices, B.cpu())
    src = B.zeros_like(dst) + B.reshape(B.arange(0, n_points), (1, -1, 1))

    per_sample_offset = B.reshape(B.arange(0, n_samples) * n_points, (-1, 1, 1))
    dst += per_sample_offset
    src += per_sample_offset
    dst = B.reshape(dst, (-1,))
    src = B.reshape(src, (-1,))
    adj = sparse.csr_matrix((B.asnumpy(B.zeros_like(dst) + 1), (B.asnumpy(dst), B.asnumpy(src))))

    g = _dgl_graph(adj)  # PORTED: DGLGraph(adj, readonly=True), see _dgl_graph
    return g


class NCEAverage(nn.Module):
    def __init__(self, inputSize, outputSize, K):
        super(NCEAverage, self).__init__()  # noqa: UP008 (as the reference)
        self.K = K
        self.momentum = 0.9
        stdv = 1.0 / math.sqrt(inputSize / 3)
        self.register_buffer(
            "memory_l", torch.rand(outputSize, inputSize).mul_(2 * stdv).add_(-stdv)
        )
        self.register_buffer(
            "memory_ab", torch.rand(outputSize, inputSize).mul_(2 * stdv).add_(-stdv)
        )

    def update(self, l, ab, y):  # noqa: E741 (the reference's name)
        with torch.no_grad():
            l_pos = torch.index_select(self.memory_l, 0, y.view(-1))
            l_pos.mul_(self.momentum)
            l_pos.add_(torch.mul(l, 1 - self.momentum))
            l_norm = l_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            updated_l = l_pos.div(l_norm)
            self.memory_l.index_copy_(0, y, updated_l)

            ab_pos = torch.index_select(self.memory_ab, 0, y.view(-1))
            ab_pos.mul_(self.momentum)
            ab_pos.add_(torch.mul(ab, 1 - self.momentum))
            ab_norm = ab_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            updated_ab = ab_pos.div(ab_norm)
            self.memory_ab.index_copy_(0, y, updated_ab)

    def get_smooth(self, l, ab, y):  # noqa: E741 (the reference's name)
        momentum = 0.75
        with torch.no_grad():
            l_pos = torch.index_select(self.memory_l, 0, y.view(-1))
            l_pos.mul_(momentum)
            l_pos.add_(torch.mul(l, 1 - momentum))
            l_norm = l_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            updated_l = l_pos.div(l_norm)

            ab_pos = torch.index_select(self.memory_ab, 0, y.view(-1))
            ab_pos.mul_(momentum)
            ab_pos.add_(torch.mul(ab, 1 - momentum))
            ab_norm = ab_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            updated_ab = ab_pos.div(ab_norm)
        return updated_l.detach(), updated_ab.detach()

    def get_pos(self, y):
        l_pos = torch.index_select(self.memory_l, 0, y.view(-1))
        ab_pos = torch.index_select(self.memory_ab, 0, y.view(-1))
        return l_pos.detach(), ab_pos.detach()

    def forward(self, batchSize, y, idx=None):
        K = self.K

        weight_t = torch.index_select(self.memory_l, 0, idx.view(-1)).detach()
        weight_t = weight_t.view(batchSize, K, -1)

        weight_s = torch.index_select(self.memory_ab, 0, idx.view(-1)).detach()
        weight_s = weight_s.view(batchSize, K, -1)

        return weight_t, weight_s


class NCESoftmaxLoss(nn.Module):
    """Softmax cross-entropy loss (a.k.a., info-NCE loss in CPC paper)"""

    def __init__(self):
        super(NCESoftmaxLoss, self).__init__()  # noqa: UP008 (as the reference)
        self.criterion = nn.CrossEntropyLoss()  # PORTED: .cuda()

    def forward(self, x):
        bsz = x.shape[0]
        # label: the positive of every sample is at index 0
        label = torch.zeros([bsz]).to(x.device).long()  # PORTED: .cuda()
        loss = self.criterion(x, label)
        return loss


class GNNLoss(nn.Module):
    def __init__(self, opt):
        super(GNNLoss, self).__init__()  # noqa: UP008 (as the reference)
        self.embed_s = Embed(opt.s_dim, opt.feat_dim)
        self.embed_t = Embed(opt.t_dim, opt.feat_dim)
        self.gnn_s = Encoder(opt.feat_dim, opt.feat_dim)
        self.gnn_t = Encoder(opt.feat_dim, opt.feat_dim)
        self.contrast = NCEAverage(opt.feat_dim, opt.n_data, opt.nce_k)  # PORTED: .cuda()
        self.criterion = NCESoftmaxLoss()
        self.feat_size = opt.feat_dim

        u = torch.tensor([i for i in range(opt.batch_size * opt.nce_k)])  # PORTED: .cuda()
        v = torch.tensor([i for i in range(opt.batch_size * opt.nce_k)])  # PORTED: .cuda()
        self.G_neg = dgl.graph((u, v))  # PORTED: .to('cuda:0'); never used by the reference
        self.record: Dict[str, torch.Tensor] = {}  # PORTED: added, the terms of the last call

    def forward(self, epoch, f_s, l_s, f_t, l_t, idx, contrast_idx=None):
        batchSize = f_s.size(0)
        K = self.contrast.K  # noqa: F841 (unused in the reference too)
        T = 0.07

        weight_t, weight_s = self.contrast(batchSize, idx, contrast_idx)

        # graph indepandent
        f_es = self.embed_s(f_s)
        f_et = self.embed_t(f_t)
        f_us, f_ut = self.contrast.get_pos(idx)
        ls_pos = torch.einsum("nc,nc->n", [f_ut, f_es]).unsqueeze(-1)
        lt_pos = torch.einsum("nc,nc->n", [f_us, f_et]).unsqueeze(-1)

        ls_neg = torch.bmm(weight_t, f_es.view(batchSize, self.feat_size, 1)).squeeze()
        lt_neg = torch.bmm(weight_s, f_et.view(batchSize, self.feat_size, 1)).squeeze()

        out_s = torch.cat([ls_pos, ls_neg], dim=1)
        out_s = torch.div(out_s, T)
        out_s = out_s.contiguous()

        out_t = torch.cat([lt_pos, lt_neg], dim=1)
        out_t = torch.div(out_t, T)
        out_t = out_t.contiguous()

        loss = self.criterion(out_s) + self.criterion(out_t)

        # PORTED: added, records the individual term (and a zero graph term if it returns)
        self.record = {"individual": loss.detach(), "graph": torch.zeros_like(loss).detach()}
        self.record["edges_s"] = self.record["edges_t"] = None

        if batchSize < knn:
            return loss

        # graph nn
        G_pos_s = knn_graph(l_s.detach(), knn)
        G_pos_s = G_pos_s.to(f_es.device)  # PORTED: .to('cuda:0')
        G_pos_s.ndata["h"] = f_es
        f_gs = self.gnn_s(G_pos_s)

        G_pos_t = knn_graph(l_t.detach(), knn)
        G_pos_t = G_pos_t.to(f_et.device)  # PORTED: .to('cuda:0')
        G_pos_t.ndata["h"] = f_et
        f_gt = self.gnn_t(G_pos_t)

        f_sgs, f_sgt = self.contrast.get_smooth(f_gs, f_gt, idx)

        gs_pos = torch.einsum("nc,nc->n", [f_sgt, f_gs]).unsqueeze(-1)
        gt_pos = torch.einsum("nc,nc->n", [f_sgs, f_gt]).unsqueeze(-1)

        gs_neg = torch.bmm(weight_t, f_gs.view(batchSize, self.feat_size, 1)).squeeze()
        gt_neg = torch.bmm(weight_s, f_gt.view(batchSize, self.feat_size, 1)).squeeze()

        out_gs = torch.cat([gs_pos, gs_neg], dim=1)
        out_gs = torch.div(out_gs, T)
        out_gs = out_gs.contiguous()

        out_gt = torch.cat([gt_pos, gt_neg], dim=1)
        out_gt = torch.div(out_gt, T)
        out_gt = out_gt.contiguous()

        loss_g = self.criterion(out_gs) + self.criterion(out_gt)

        # PORTED: added, records the graph term and both graphs' edges
        self.record["graph"] = loss_g.detach()
        self.record["edges_s"] = G_pos_s.edges()
        self.record["edges_t"] = G_pos_t.edges()

        self.contrast.update(f_es, f_et, idx)
        return loss + loss_g


class Encoder(nn.Module):
    def __init__(self, in_dim, hidden_dim):
        super(Encoder, self).__init__()  # noqa: UP008 (as the reference)
        self.conv1 = TAGConv(in_dim, hidden_dim, k=1)
        self.l2norm = Normalize(2)

    def forward(self, g):
        h = g.ndata["h"]
        h = self.l2norm(self.conv1(g, h))
        return h


class Embed(nn.Module):
    """Embedding module"""

    def __init__(self, dim_in=1024, dim_out=128):
        super(Embed, self).__init__()  # noqa: UP008 (as the reference)
        self.linear = nn.Linear(dim_in, dim_out)
        self.l2norm = Normalize(2)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = self.linear(x)
        x = self.l2norm(x)
        return x


class Normalize(nn.Module):
    """normalization layer"""

    def __init__(self, power=2):
        super(Normalize, self).__init__()  # noqa: UP008 (as the reference)
        self.power = power

    def forward(self, x):
        norm = x.pow(self.power).sum(1, keepdim=True).pow(1.0 / self.power)
        out = x.div(norm)
        return out


# ======================================================================================
# distiller_zoo/KD.py
# ======================================================================================


class DistillKL(nn.Module):
    """Distilling the Knowledge in a Neural Network"""

    def __init__(self, T):
        super(DistillKL, self).__init__()  # noqa: UP008 (as the reference)
        self.T = T

    def forward(self, y_s, y_t):
        p_s = F.log_softmax(y_s / self.T, dim=1)
        p_t = F.softmax(y_t / self.T, dim=1)
        with warnings.catch_warnings():  # PORTED: added, size_average is deprecated
            warnings.simplefilter("ignore", UserWarning)
            loss = F.kl_div(p_s, p_t, size_average=False) * (self.T**2) / y_s.shape[0]
        return loss


# ======================================================================================
# dataset/cifar100.py: CIFAR100InstanceSample, the negatives of mode "hkd"
# ======================================================================================


class ReferenceNegatives:
    """``CIFAR100InstanceSample.__init__`` (the per-class index lists) and the sampling
    of its ``__getitem__`` for ``mode='hkd'``, ``percent=1.0``.

    PORTED: ``num_classes`` is the number of labels instead of 100; the final
    ``np.asarray`` of the per-class lists is left out (NumPy >= 1.24 rejects ragged
    lists, and indexing the list gives the same arrays); ``np.random.choice`` draws from
    a seeded ``np.random.RandomState`` (the same legacy algorithm) instead of the global
    one; ``sample_idx(index)`` is the ``contrast_idx`` part of ``__getitem__``.
    """

    def __init__(self, targets, k, seed=0):
        self.k = k
        self.targets = list(targets)
        self.rng = np.random.RandomState(seed)
        num_classes = max(self.targets) + 1
        num_samples = len(self.targets)
        label = self.targets

        self.cls_positive = [[] for i in range(num_classes)]
        for i in range(num_samples):
            self.cls_positive[label[i]].append(i)

        self.cls_negative = [[] for i in range(num_classes)]
        for i in range(num_classes):
            for j in range(num_classes):
                if j == i:
                    continue
                self.cls_negative[i].extend(self.cls_positive[j])

        self.cls_positive = [np.asarray(self.cls_positive[i]) for i in range(num_classes)]
        self.cls_negative = [np.asarray(self.cls_negative[i]) for i in range(num_classes)]

    def sample_idx(self, index):
        target = self.targets[index]
        replace = True if self.k > len(self.cls_negative[target]) else False
        neg_idx = self.rng.choice(self.cls_negative[target], self.k, replace=replace)
        sample_idx = neg_idx
        return sample_idx

    def batch(self, index):
        """``(B, K)`` contrast_idx as the DataLoader collates it."""
        return torch.as_tensor(np.stack([self.sample_idx(int(i)) for i in index]))


# ======================================================================================
# The comparison
# ======================================================================================


class TinyNet(nn.Module):
    """Pooled features ``f = tanh(W x + b)`` and logits ``V f + c``."""

    def __init__(self, in_dim, dim, classes):
        super().__init__()
        self.body = nn.Linear(in_dim, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        features = torch.tanh(self.body(x))
        return features, self.head(features)


def reference_step(student, teacher, criterion_kd, optimizer, opt, x, target, index, contrast_idx):
    """One step of ``helper/loops.py:train_distill`` for ``--distill hkd``."""
    feat_s, logit_s = student(x)  # the last entry of feat_s: the pooled features
    with torch.no_grad():
        feat_t, logit_t = teacher(x)
        feat_t = feat_t.detach()
    loss_cls = F.cross_entropy(logit_s, target)
    loss_div = DistillKL(opt.kd_T)(logit_s, logit_t)
    loss_kd = criterion_kd(0, feat_s, logit_s, feat_t, logit_t, index, contrast_idx)
    loss = opt.gamma * loss_cls + opt.alpha * loss_div + opt.beta * loss_kd
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {
        "loss": (opt.alpha * loss_div + opt.beta * loss_kd).detach(),
        "individual": criterion_kd.record["individual"],
        "graph": criterion_kd.record["graph"],
        "kd": loss_div.detach(),
        "edges_s": criterion_kd.record["edges_s"],
        "edges_t": criterion_kd.record["edges_t"],
    }


def graphkd_step(student, teacher, distiller, optimizer, x, target, index, negatives):
    """The same step as graphkd's trainer runs it: CE + the distiller's loss, then
    ``after_step`` after the optimiser step."""
    feat_s, logit_s = student(x)
    with torch.no_grad():
        feat_t, logit_t = teacher(x)
    t = Responses(logit_t, embedding=feat_t, index=index, labels=target)
    s = Responses(logit_s, embedding=feat_s, index=index, labels=target)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "HKD skips its graph term", UserWarning)
        out = distiller(t, s, negatives=negatives)
    loss = distiller.ce_weight * F.cross_entropy(logit_s, target) + out["loss"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    distiller.after_step(t, s)
    graphs = [g["knn"] for g in distiller.build_graphs(t.detach(), s.detach())]  # this step's edges
    out = {name: value.detach() for name, value in out.items()}
    out["edges_t"], out["edges_s"] = ((g.src, g.dst) if g.num_edges else None for g in graphs)
    return out


def _edge_set(edges):
    if edges is None:
        return None
    src, dst = edges
    return sorted(zip(src.tolist(), dst.tolist()))


def side_by_side(
    steps: int,
    *,
    num_samples: int = 70,
    classes: int = 5,
    in_dim: int = 10,
    teacher_dim: int = 12,
    student_dim: int = 8,
    feat_dim: int = 16,
    nce_k: int = 20,
    batch_size: int = 16,
    alpha: float = 0.0,
    beta: float = 3.0,
    lr: float = 0.05,
    dense: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    graphkd_options: Optional[Dict[str, Any]] = None,
) -> List[Dict[str, float]]:
    """Train the reference and graphkd side by side; per step, the largest absolute
    differences of each loss term, of each bank and of the trained weights (float64).

    The student, the heads and the banks start equal (graphkd's draws copied into the
    reference); each epoch visits a random permutation of the samples in batches of
    ``batch_size`` (the last one smaller, as the reference's DataLoader without
    ``drop_last``); each batch's negatives are drawn as the reference's dataset draws
    them and given to both. ``edges`` is 1 at a step whose kNN graphs differ, else 0.
    ``graphkd_options`` are passed on to ``HKDDistiller`` (to show that the comparison
    sees a change).
    """
    torch.manual_seed(seed)
    labels = torch.arange(num_samples) % classes
    data = torch.randn(num_samples, in_dim, dtype=dtype)
    teacher = TinyNet(in_dim, teacher_dim, classes).to(dtype)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    student_g = TinyNet(in_dim, student_dim, classes).to(dtype)
    student_r = copy.deepcopy(student_g)

    options = dict(alpha=alpha, beta=beta, k=knn, embed_dim=feat_dim, nce_k=nce_k)
    options.update(graphkd_options or {})
    distiller = HKDDistiller(
        teacher_dim=teacher_dim, student_dim=student_dim, labels=labels, **options
    ).to(dtype)
    if not dense:
        distiller.bank_s.DENSE_RATIO = distiller.bank_t.DENSE_RATIO = 0
    opt = SimpleNamespace(
        s_dim=student_dim,
        t_dim=teacher_dim,
        feat_dim=feat_dim,
        n_data=num_samples,
        nce_k=nce_k,
        batch_size=batch_size,
        gamma=1.0,
        alpha=alpha,
        beta=beta,
        kd_T=4.0,
    )
    criterion = GNNLoss(opt).to(dtype)
    for mine, theirs in (
        (distiller.student_builder.embed.linear, criterion.embed_s.linear),
        (distiller.teacher_builder.embed.linear, criterion.embed_t.linear),
        (distiller.student_builder.encoder.conv, criterion.gnn_s.conv1),
        (distiller.teacher_builder.encoder.conv, criterion.gnn_t.conv1),
    ):
        theirs.load_state_dict(mine.state_dict())
    # memory_l holds the student's embeddings (update(f_es, f_et, ...)), memory_ab the teacher's
    criterion.contrast.memory_l.copy_(distiller.bank_s.memory)
    criterion.contrast.memory_ab.copy_(distiller.bank_t.memory)

    # train_student.py: SGD over the student and the four heads (trainable_list)
    sgd = dict(lr=lr, momentum=0.9, weight_decay=5e-4)
    heads = [criterion.embed_s, criterion.embed_t, criterion.gnn_s, criterion.gnn_t]
    optimizer_r = torch.optim.SGD(nn.ModuleList([student_r, *heads]).parameters(), **sgd)
    optimizer_g = torch.optim.SGD([*student_g.parameters(), *distiller.parameters()], **sgd)
    pairs = [
        ("student", student_g, student_r),
        ("embed_s", distiller.student_builder.embed.linear, criterion.embed_s.linear),
        ("embed_t", distiller.teacher_builder.embed.linear, criterion.embed_t.linear),
        ("gnn_s", distiller.student_builder.encoder.conv, criterion.gnn_s.conv1),
        ("gnn_t", distiller.teacher_builder.encoder.conv, criterion.gnn_t.conv1),
    ]

    negatives = ReferenceNegatives(labels.tolist(), nce_k, seed=seed)
    order = torch.Generator().manual_seed(seed)
    rows: List[Dict[str, float]] = []
    while len(rows) < steps:
        permutation = torch.randperm(num_samples, generator=order)
        for start in range(0, num_samples, batch_size):
            if len(rows) == steps:
                break
            index = permutation[start : start + batch_size]
            x, target = data[index], labels[index]
            contrast_idx = negatives.batch(index)
            ref = reference_step(
                student_r, teacher, criterion, optimizer_r, opt, x, target, index, contrast_idx
            )
            mine = graphkd_step(
                student_g, teacher, distiller, optimizer_g, x, target, index, contrast_idx
            )
            rows.append(_differences(ref, mine, criterion, distiller, pairs, alpha, len(index)))
    return rows


@torch.no_grad()
def _differences(ref, mine, criterion, distiller, pairs, alpha, batch) -> Dict[str, float]:
    """Largest absolute differences of one step (and the reference's two terms)."""
    row = {"batch": float(batch)}
    for term in ("loss", "individual", "graph") + (("kd",) if alpha else ()):
        row[term] = float((mine.get(term, torch.zeros(())) - ref[term]).abs())
    row["bank_s"] = float((distiller.bank_s.memory - criterion.contrast.memory_l).abs().max())
    row["bank_t"] = float((distiller.bank_t.memory - criterion.contrast.memory_ab).abs().max())
    row["weights"] = max(
        max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))
        for _, a, b in pairs
    )
    row["edges"] = float(
        _edge_set(mine["edges_s"]) != _edge_set(ref["edges_s"])
        or _edge_set(mine["edges_t"]) != _edge_set(ref["edges_t"])
    )
    row["value_individual"] = float(ref["individual"])
    row["value_graph"] = float(ref["graph"])
    return row


COMPARED = ("loss", "individual", "graph", "bank_s", "bank_t", "weights")


@pytest.mark.parametrize(
    "alpha, dense", [(0.0, True), (0.0, False), (1.0, True)], ids=["hkd", "gathered", "hkd_kd"]
)
def test_graphkd_follows_the_reference_step_for_step(alpha, dense):
    """15 steps (3 epochs of 70 samples in batches of 16: every fifth batch has 6 samples,
    fewer than k = 8, where both skip the graph term and leave the banks as they are)."""
    rows = side_by_side(15, alpha=alpha, dense=dense)
    assert [row["batch"] for row in rows[:5]] == [16, 16, 16, 16, 6]
    for step, row in enumerate(rows):
        assert row["edges"] == 0, f"step {step}: the kNN graphs differ"
        for name in COMPARED + (("kd",) if alpha else ()):
            assert row[name] < 1e-10, f"step {step}: {name} differs by {row[name]:.3g}"
    # the comparison is not vacuous: the terms are finite and the graph term takes part
    assert all(math.isfinite(row["value_individual"]) for row in rows)
    assert rows[0]["value_graph"] > 0 and rows[4]["value_graph"] == 0


@pytest.mark.parametrize(
    "change, first",
    [
        ({"bank_weight": 0.7}, ("graph",)),  # the mixing of the graph positives
        ({"momentum": 0.8}, ("bank_s", "bank_t")),  # the bank update
        ({"temperature": 0.08}, ("individual", "graph")),
        ({"objective": "paper"}, ("loss",)),  # Eq. 10 instead of the reference's loss
    ],
)
def test_the_comparison_sees_a_change(change, first):
    """A graphkd that departs from the reference in one setting fails the comparison."""
    rows = side_by_side(3, graphkd_options=change)
    assert max(rows[0][name] for name in first) > 1e-4
    assert max(rows[-1]["weights"], rows[-1]["loss"]) > 1e-6


def test_the_port_skips_the_graph_and_the_update_on_small_batches():
    """The ported reference returns before its bank update on a batch smaller than k."""
    opt = SimpleNamespace(s_dim=4, t_dim=4, feat_dim=6, n_data=30, nce_k=5, batch_size=6)
    criterion = GNNLoss(opt).double()
    before = criterion.contrast.memory_l.clone()
    f = torch.randn(6, 4, dtype=torch.float64)
    z = torch.randn(6, 3, dtype=torch.float64)
    index = torch.arange(6)
    criterion(0, f, z, f, z, index, torch.randint(6, 30, (6, 5)))
    assert torch.equal(criterion.contrast.memory_l, before)
    assert float(criterion.record["graph"]) == 0.0


def test_reference_knn_graph_has_the_edges_of_graphkds():
    """Each node receives an edge from itself and its 7 nearest predictions."""
    from graphkd.graphs import knn_graph as graphkd_knn_graph

    logits = torch.randn(20, 6, dtype=torch.float64) * 3
    theirs = knn_graph(logits, knn)
    mine = graphkd_knn_graph(F.softmax(logits, dim=1), knn, metric="cosine", include_self=True)
    assert theirs.in_degrees().tolist() == [knn] * 20
    assert _edge_set(theirs.edges()) == _edge_set((mine.src, mine.dst))
    src, dst = theirs.edges()
    assert ((src == dst).sum() == 20).item()  # the self edges


def test_float64_predictions_give_the_float64_knn_graph():
    """Neighbours closer than float32 can tell apart: the reference ranks float64
    predictions in float64, and so does graphkd (it used to round the distances to
    float32, which broke such near-ties arbitrarily: in a float64 run beside the
    reference, one flipped edge at the second step made the trajectories part)."""
    from graphkd.distill.presets.hkd import HKDGraph
    from graphkd.graphs import knn_graph as graphkd_knn_graph

    # node 0 predicts uniformly; nodes 1..7 almost so, node 7 the closest; 8..11 far
    logits = torch.zeros(12, 3, dtype=torch.float64)
    logits[1:8, 0] = 1e-4 * torch.arange(7, 0, -1, dtype=torch.float64)
    logits[8:, 1] = torch.arange(1.0, 5.0, dtype=torch.float64)
    p = F.softmax(logits, dim=1)
    distance = 1 - F.cosine_similarity(p[:1], p[1:8])
    assert (distance.diff() < 0).all() and distance.max() < 1e-7  # below float32's resolution

    def into_0(src, dst):  # node 0's neighbours
        return sorted(src[dst == 0].tolist())

    assert into_0(*knn_graph(logits, 2).edges()) == [0, 7]
    mine = graphkd_knn_graph(p, 2, metric="cosine", include_self=True)
    assert into_0(mine.src, mine.dst) == [0, 7]
    builder = HKDGraph(4, embed_dim=4, k=2).double()
    graph = builder(Responses(logits, embedding=torch.randn(12, 4, dtype=torch.float64)))
    assert into_0(graph.src, graph.dst) == [0, 7]


def _tagconv_dgl_0_5(conv, graph, feat):
    """DGL 0.5's ``TAGConv.forward`` (``dgl/nn/pytorch/conv/tagconv.py``), which the
    reference ran. PORTED: ``fn.copy_src(src='h', out='m')`` (removed in DGL 1.0) ->
    ``fn.copy_u('h', 'm')``."""
    with graph.local_scope():
        norm = torch.pow(graph.in_degrees().float().clamp(min=1), -0.5)
        shp = norm.shape + (1,) * (feat.dim() - 1)
        norm = torch.reshape(norm, shp).to(feat.device)

        # D-1/2 A D -1/2 X
        fstack = [feat]
        for _ in range(conv._k):
            rst = fstack[-1] * norm
            graph.ndata["h"] = rst

            graph.update_all(fn.copy_u("h", "m"), fn.sum(msg="m", out="h"))
            rst = graph.ndata["h"]
            rst = rst * norm
            fstack.append(rst)

        rst = conv.lin(torch.cat(fstack, dim=-1))

        if conv._activation is not None:
            rst = conv._activation(rst)

        return rst


def test_installed_tagconv_is_dgl_0_5s():
    """Bit for bit in float32, the reference's precision. In float64, DGL 0.5 rounded the
    degree normalisation to float32 (``.float()``); the installed DGL keeps the features'
    type, which is what this file's float64 comparison uses."""
    graph = knn_graph(torch.randn(24, 5), knn)
    conv = TAGConv(7, 7, k=1)
    feat = torch.randn(24, 7)
    assert torch.equal(conv(graph, feat), _tagconv_dgl_0_5(conv, graph, feat))
    conv, feat = conv.double(), feat.double()
    torch.testing.assert_close(
        conv(graph, feat), _tagconv_dgl_0_5(conv, graph, feat), rtol=1e-7, atol=1e-7
    )


def _subset_frequencies(rows: np.ndarray) -> Dict[tuple, float]:
    keys, counts = np.unique(np.sort(rows, axis=1), axis=0, return_counts=True)
    return {tuple(k): c / len(rows) for k, c in zip(keys.tolist(), counts.tolist())}


def test_negatives_are_uniform_subsets_of_other_classes_in_both():
    """The reference draws each sample's negatives with ``np.random.choice(...,
    replace=False)`` from the other classes: a uniform K-subset. graphkd's sampler draws
    the same distribution: both put about 1/56 on each of the C(8, 3) = 56 subsets."""
    targets = [0, 1, 2] * 4  # 12 samples, 4 per class: 8 candidates per anchor
    draws = 20_000
    reference = ReferenceNegatives(targets, 3, seed=1)
    theirs = np.stack([reference.sample_idx(0) for _ in range(draws)])
    sampler = NegativeSampler(torch.tensor(targets), 3, generator=torch.Generator().manual_seed(1))
    mine = sampler(torch.zeros(draws, dtype=torch.long)).numpy()
    candidates = {j for j, y in enumerate(targets) if y != 0}
    for rows in (theirs, mine):
        assert set(rows.ravel().tolist()) == candidates  # other classes only
        assert all(len(set(row)) == 3 for row in rows.tolist())  # no repeats in a row
        frequencies = _subset_frequencies(rows)
        assert len(frequencies) == math.comb(8, 3)
        assert max(abs(f * 56 - 1) for f in frequencies.values()) < 0.25


def test_both_draw_with_replacement_only_when_a_class_leaves_too_few():
    targets = [0, 1, 2] * 4
    reference = ReferenceNegatives(targets, 10, seed=0)  # 10 > 8 candidates
    theirs = np.stack([reference.sample_idx(0) for _ in range(200)])
    sampler = NegativeSampler(torch.tensor(targets), 10)
    mine = sampler(torch.zeros(200, dtype=torch.long)).numpy()
    for rows in (theirs, mine):
        assert rows.shape == (200, 10)
        assert all(len(set(row)) < 10 for row in rows.tolist())  # repeats are unavoidable
        assert {targets[j] for j in rows.ravel().tolist()} == {1, 2}
