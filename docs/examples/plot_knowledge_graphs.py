"""
Looking at the knowledge a method transfers
===========================================

Every graphkd method builds a teacher graph and a student graph of each batch and
compares them. :func:`graphkd.analysis.draw_graphs` draws both side by side in the form
that reads: a heatmap of edge values for dense graphs (samples sorted by class), only the
kept edges for a pruned graph, one matrix per attention head, the kNN graph with class
colours. ``graphkd graph RUN_DIR`` does the same for a trained run, on a batch of its
test images. Here we use one batch of structured logits and embeddings: 24 samples of 4
classes, the student a noisier copy of the teacher.
"""

# %%
# One batch
# ---------
import dataclasses

import matplotlib.pyplot as plt
import torch

import graphkd
from graphkd.analysis import draw_graphs

torch.manual_seed(0)
batch, classes = 24, 4
labels = torch.arange(batch) % classes
prototypes = torch.randn(classes, 16)


def network(noise, width=16):
    embedding = prototypes[labels] + noise * torch.randn(batch, 16)
    logits = 3.0 * torch.eye(classes)[labels] + noise * torch.randn(batch, classes)
    return graphkd.Responses(logits, embedding=embedding[:, :width], labels=labels)


teacher, student = network(0.5), network(1.2)

# %%
# PKT: a complete graph, its edge values as a matrix
# --------------------------------------------------
# Each destination sample holds a distribution over the batch; classes form blocks.
figure = draw_graphs(graphkd.create_method("pkt"), teacher, student, labels=labels)
plt.show()

# %%
# VRM: only the edges the pruning keeps
# -------------------------------------
# VRM's real -> virtual graph keeps the edges whose student predictions are reliable;
# dropped edges are blank on both sides. Its edge features are normalised logit
# differences, drawn on the teacher's first principal direction.
teacher_2v = dataclasses.replace(teacher, virtual=network(0.6))
student_2v = dataclasses.replace(student, virtual=network(1.3))
vrm = graphkd.create_method("vrm", num_classes=classes)
figure = draw_graphs(vrm, teacher_2v, student_2v, labels=labels)
plt.show()

# %%
# HKD: the kNN graph of the predictions, coloured by class
# --------------------------------------------------------
hkd = graphkd.create_method(
    "hkd", num_samples=batch, labels=labels, teacher_dim=16, student_dim=16, nce_k=4
)
index = torch.arange(batch)
figure = draw_graphs(
    hkd,
    dataclasses.replace(teacher, index=index),
    dataclasses.replace(student, index=index),
    labels=labels,
)
plt.show()
