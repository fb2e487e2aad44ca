"""Method presets: each registers a builder pair and its match terms by name."""

from graphkd.distill.presets import cc, dist, hkd, kd, lskd, mhgd, pkt, rkd, sp, vrm

__all__ = ["cc", "dist", "hkd", "kd", "lskd", "mhgd", "pkt", "rkd", "sp", "vrm"]
