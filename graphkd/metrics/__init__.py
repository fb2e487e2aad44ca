"""Node and edge metrics by name: compare a student tensor with a teacher tensor.

Every metric is a :class:`Metric` (a ``torch.nn.Module`` returning a scalar) registered
under a short name; :func:`create_metric` builds one by name and :func:`list_metrics`
lists the names. :mod:`graphkd.metrics.functional` holds the same computations as
functions.

Example
-------
>>> import torch
>>> from graphkd.metrics import create_metric, list_metrics
>>> list_metrics()
['cosine', 'infonce', 'js', 'kd', 'kl', 'l1', 'mse', 'pearson', 'smooth_l1', 'zscore_kd']
>>> kd = create_metric("kd", tau=4.0)
>>> z = torch.tensor([[1.0, 2.0, 3.0]])
>>> float(kd(z, z))
0.0
"""

from graphkd.metrics import functional
from graphkd.metrics.cosine import CosineDistance
from graphkd.metrics.infonce import InfoNCE
from graphkd.metrics.js import JSDivergence
from graphkd.metrics.kd import KD
from graphkd.metrics.kl import KLDivergence
from graphkd.metrics.l1 import L1
from graphkd.metrics.metric import Metric, check_finite
from graphkd.metrics.mse import MSE
from graphkd.metrics.pearson import PearsonDistance
from graphkd.metrics.registry import METRICS, create_metric, list_metrics
from graphkd.metrics.smooth_l1 import SmoothL1
from graphkd.metrics.zscore_kd import ZScoreKD

__all__ = [
    "METRICS",
    "KD",
    "L1",
    "MSE",
    "CosineDistance",
    "InfoNCE",
    "JSDivergence",
    "KLDivergence",
    "Metric",
    "PearsonDistance",
    "SmoothL1",
    "ZScoreKD",
    "check_finite",
    "create_metric",
    "functional",
    "list_metrics",
]
