"""Why distillation works: fidelity, mutual information, attention maps, affinity, pictures.

The measures of the teacher-ensemble study (Guo et al., 2024/2025), computed on any
networks and their outputs:

- :func:`fidelity`: top-1 agreement with a teacher or an ensemble, and
  :math:`\\mathrm{KL}(p_s \\| \\bar p_t)`;
- :func:`mutual_information`: plug-in MI between two models' top-1 predictions;
- :func:`cam` and :func:`attention_iou`: class-activation maps and the IoU of their
  thresholded regions;
- :func:`affinity` and :func:`train_val_gap`: how augmentations and memorisation affect
  accuracy (the study's augmentations and per-teacher views live in
  :mod:`graphkd.data`: :func:`~graphkd.data.ensemble_augmentation`,
  :class:`~graphkd.data.EnsembleViews`);
- :func:`prediction_relation` and the figures (:func:`plot_cam_overlays`,
  :func:`plot_relations`, :func:`plot_knn_graph`);
- :func:`draw_graphs`: any method's teacher and student knowledge graphs of one batch,
  side by side (``graphkd graph RUN_DIR`` for a run);
- :func:`write_report`: all of the above for checkpoints, as ``graphkd analyze`` writes it.

Example
-------
>>> import torch
>>> from graphkd.analysis import fidelity, mutual_information
>>> z = torch.randn(16, 4)
>>> fidelity(z, z).agreement
1.0
>>> round(mutual_information(z, z, num_classes=4), 6) > 0
True
"""

from graphkd.analysis.affinity import affinity
from graphkd.analysis.attention_iou import DEFAULT_THRESHOLD, attention_iou
from graphkd.analysis.cam import cam
from graphkd.analysis.fidelity import KL_SCALE, Fidelity, fidelity
from graphkd.analysis.figures import plot_cam_overlays, plot_knn_graph, plot_relations
from graphkd.analysis.graph_picture import draw_graphs, graph_pairs
from graphkd.analysis.mutual_information import mutual_information
from graphkd.analysis.prediction_relation import prediction_relation
from graphkd.analysis.report import AnalysisReport, write_report
from graphkd.analysis.train_val_gap import TrainValGap, train_val_gap

__all__ = [
    "DEFAULT_THRESHOLD",
    "KL_SCALE",
    "AnalysisReport",
    "Fidelity",
    "TrainValGap",
    "affinity",
    "attention_iou",
    "cam",
    "draw_graphs",
    "fidelity",
    "graph_pairs",
    "mutual_information",
    "plot_cam_overlays",
    "plot_knn_graph",
    "plot_relations",
    "prediction_relation",
    "train_val_gap",
    "write_report",
]
