"""Dense PyTorch formulations of each preset, written independently of graphkd's graphs.

Each takes the teacher's and the student's responses and the distiller under test (read
only for the trainable heads' weights of presets that own some)."""

import math

import torch
import torch.nn.functional as F


def kd(t, s, d=None, tau=4.0, weight=0.9):
    return (
        weight
        * tau**2
        * F.kl_div(
            F.log_softmax(s.logits / tau, 1), F.softmax(t.logits / tau, 1), reduction="batchmean"
        )
    )


def lskd(t, s, d=None, tau=2.0, weight=9.0):
    def z(x):
        return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-7)

    return (
        weight
        * tau**2
        * F.kl_div(
            F.log_softmax(z(s.logits) / tau, 1),
            F.softmax(z(t.logits) / tau, 1),
            reduction="batchmean",
        )
    )


def _pdist(e):
    square = e.pow(2).sum(1)
    d = (square.unsqueeze(1) + square.unsqueeze(0) - 2 * e @ e.t()).clamp(min=1e-12).sqrt().clone()
    d[range(len(e)), range(len(e))] = 0
    return d


def _angles(e):
    offsets = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)
    return torch.bmm(offsets, offsets.transpose(1, 2)).view(-1)


def rkd(t, s, d=None):
    td, sd = _pdist(t.embedding), _pdist(s.embedding)
    td, sd = td / td[td > 0].mean(), sd / sd[sd > 0].mean()
    distance = F.smooth_l1_loss(sd, td)
    angle = F.smooth_l1_loss(_angles(s.embedding), _angles(t.embedding))
    return 25 * distance + 50 * angle


def sp(t, s, d=None, weight=3000.0):
    """On the last stage's feature map, flattened (the reference implementations')."""

    def gram(f):
        f = f.reshape(f.shape[0], -1)
        return F.normalize(f @ f.t())

    ft, fs = list(t.features.values())[-1], list(s.features.values())[-1]
    batch = ft.shape[0]
    return weight * (gram(ft) - gram(fs)).pow(2).sum() / batch**2


def cc(t, s, d, weight=0.02):
    """Linear heads (the distiller's weights), then consecutive products of the gaps."""

    def head(f, linear):
        return f @ linear.weight.t() + linear.bias

    ht = head(t.embedding, d.teacher_builder.embed.linear)
    hs = head(s.embedding, d.student_builder.embed.linear)
    total = 0.0
    for i in range(len(hs) - 1):
        total = total + ((hs[i] - ht[i]).abs() * (hs[i + 1] - ht[i + 1]).abs()).sum()
    return weight * total / (len(hs) - 1)


def cc_taylor(t, s, gamma=0.4, order=2):
    def correlation(f):
        f = F.normalize(f)
        dots = f @ f.t()
        return math.exp(-2 * gamma) * sum(
            (2 * gamma * dots) ** p / math.factorial(p) for p in range(order + 1)
        )

    return ((correlation(t.embedding) - correlation(s.embedding)) ** 2).mean()


def pkt(t, s, d=None, weight=30000.0, eps=1e-7):
    def distribution(f):
        f = f / (f.norm(dim=1, keepdim=True) + eps)
        similarity = (f @ f.t() + 1) / 2
        return similarity / similarity.sum(1, keepdim=True)

    pt, ps = distribution(t.embedding), distribution(s.embedding)
    return weight * torch.mean(pt * torch.log((pt + eps) / (ps + eps)))


def dist(t, s, d=None, tau=4.0, beta=2.0, gamma=2.0):
    def pearson_distance(a, b):
        a = a - a.mean(1, keepdim=True)
        b = b - b.mean(1, keepdim=True)
        return 1 - F.cosine_similarity(a, b, dim=1, eps=1e-8).mean()

    ps, pt = F.softmax(s.logits / tau, 1), F.softmax(t.logits / tau, 1)
    return tau**2 * (beta * pearson_distance(ps, pt) + gamma * pearson_distance(ps.t(), pt.t()))


REFERENCES = {"kd": kd, "lskd": lskd, "rkd": rkd, "sp": sp, "cc": cc, "pkt": pkt, "dist": dist}
