"""
Which VRM relations survive pruning
===================================

VRM relates every sample of a batch's real view with every sample of its virtual view
(the inter-sample, ISV, graph) and drops the relations between uncertain predictions:
edges whose joint entropy ``H(p_i) + H(p~_j)`` of the student's predictions is among
the highest ``drop_fraction``. Here we build one batch of structured logits,
draw which ISV edges are kept, and compare the student's edge features with the
teacher's on kept and pruned edges.
"""

# %%
# One batch of structured logits
# ------------------------------
# 32 samples of 8 classes, sorted by class. The teacher's logits point at the true
# class; the virtual view is the same images under a perturbation. The student is
# confident on most samples and unsure (small margins, more noise) on a quarter of them.
import torch

import graphkd
from graphkd import Responses

torch.manual_seed(0)
batch, classes = 32, 8
labels = torch.arange(batch) * classes // batch
prototypes = 4.0 * torch.eye(classes)[labels]
teacher_real = prototypes + 0.5 * torch.randn(batch, classes)
teacher_virtual = teacher_real + 0.5 * torch.randn(batch, classes)

unsure = torch.zeros(batch, dtype=torch.bool)
unsure[torch.randperm(batch)[: batch // 4]] = True
margin = torch.where(unsure, 0.4, 3.0)[:, None]
student_real = margin * torch.eye(classes)[labels] + 0.7 * torch.randn(batch, classes)
student_virtual = student_real + 0.7 * torch.randn(batch, classes)

teacher = Responses(teacher_real, virtual=Responses(teacher_virtual))
student = Responses(student_real, virtual=Responses(student_virtual))

# %%
# The VRM graphs, the pruning mask and the loss
# ---------------------------------------------
# ``build_graphs`` returns the explicit ISV and ICV graphs of teacher and student; the
# student's ISV graph carries the pruning mask in ``edata["keep"]``. The default Gram
# path computes the same loss without materialising the edge features.
distiller = graphkd.create_method("vrm", num_classes=classes)
with torch.no_grad():
    teacher_graphs, student_graphs = distiller.build_graphs(teacher, student)
    gram = distiller(teacher, student)
    distiller.path = "explicit"
    explicit = distiller(teacher, student)
keep = student_graphs["isv"].edata["keep"].reshape(batch, batch)
edges_s = student_graphs["isv"].edata["edge"].reshape(batch, batch, classes)
edges_t = teacher_graphs["isv"].edata["edge"].reshape(batch, batch, classes)
agreement = (edges_s * edges_t).sum(-1)  # cosine of the two unit edge features
print(f"kept {int(keep.sum())} of {batch * batch} ISV edges")
print(f"L_ISV gram {float(gram['isv']):.6f}, explicit {float(explicit['isv']):.6f}")
print(
    f"mean teacher-student agreement: kept edges {float(agreement[keep].mean()):.3f}, "
    f"pruned edges {float(agreement[~keep].mean()):.3f}"
)

# %%
# Kept edges and edge-feature agreement
# -------------------------------------
# Rows are real samples, columns virtual samples. Pruned edges (black) gather on the rows
# and columns of the unsure samples (green lines), and their edge features agree least
# with the teacher's.
import matplotlib.pyplot as plt

entropy = graphkd.graphs.prediction_entropy(torch.cat([student_real, student_virtual]))
joint = entropy[:batch, None] + entropy[None, batch:]
figure, axes = plt.subplots(1, 3, figsize=(13, 4.2))
panels = [
    (joint, "joint entropy H(p_i) + H(p~_j)", "magma"),
    (keep.float(), "kept ISV edges (drop 25%)", "gray"),
    (agreement, "<u^s_ij, u^t_ij>", "coolwarm"),
]
for axis, (values, title, colours) in zip(axes, panels):
    image = axis.imshow(values, cmap=colours)
    axis.set_title(title)
    axis.set_xlabel("virtual sample j")
    axis.set_ylabel("real sample i")
    figure.colorbar(image, ax=axis, fraction=0.046)
for index in torch.nonzero(unsure).flatten().tolist():
    axes[1].axhline(index, color="tab:green", linewidth=0.8)
    axes[1].axvline(index, color="tab:green", linewidth=0.8)
figure.suptitle("VRM on one batch: the student's unsure samples (green) lose their edges")
figure.tight_layout()
plt.show()
