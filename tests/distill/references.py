"""Dense PyTorch formulations of each preset, written independently of graphkd's graphs."""

import math

import torch
import torch.nn.functional as F


def kd(t, s, tau=4.0, weight=0.9):
    return (
        weight
        * tau**2
        * F.kl_div(
            F.log_softmax(s.logits / tau, 1), F.softmax(t.logits / tau, 1), reduction="batchmean"
        )
    )


def lskd(t, s, tau=2.0, weight=9.0):
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


def rkd(t, s):
    td, sd = _pdist(t.embedding), _pdist(s.embedding)
    td, sd = td / td[td > 0].mean(), sd / sd[sd > 0].mean()
    distance = F.smooth_l1_loss(sd, td)
    angle = F.smooth_l1_loss(_angles(s.embedding), _angles(t.embedding))
    return 25 * distance + 50 * angle


def sp(t, s, weight=3000.0):
    def gram(f):
        return F.normalize(f @ f.t())

    batch = t.embedding.shape[0]
    return weight * (gram(t.embedding) - gram(s.embedding)).pow(2).sum() / batch**2


def cc(t, s, gamma=0.4, order=2):
    def correlation(f):
        f = F.normalize(f)
        dots = f @ f.t()
        return math.exp(-2 * gamma) * sum(
            (2 * gamma * dots) ** p / math.factorial(p) for p in range(order + 1)
        )

    return ((correlation(t.embedding) - correlation(s.embedding)) ** 2).mean()


def pkt(t, s, weight=30000.0, eps=1e-7):
    def distribution(f):
        f = f / (f.norm(dim=1, keepdim=True) + eps)
        similarity = (f @ f.t() + 1) / 2
        return similarity / similarity.sum(1, keepdim=True)

    pt, ps = distribution(t.embedding), distribution(s.embedding)
    return weight * torch.mean(pt * torch.log((pt + eps) / (ps + eps)))


def dist(t, s, tau=4.0):
    def pearson_distance(a, b):
        a = a - a.mean(1, keepdim=True)
        b = b - b.mean(1, keepdim=True)
        return 1 - F.cosine_similarity(a, b, dim=1, eps=1e-8).mean()

    ps, pt = F.softmax(s.logits / tau, 1), F.softmax(t.logits / tau, 1)
    return tau**2 * (pearson_distance(ps, pt) + pearson_distance(ps.t(), pt.t()))


REFERENCES = {"kd": kd, "lskd": lskd, "rkd": rkd, "sp": sp, "cc": cc, "pkt": pkt, "dist": dist}
