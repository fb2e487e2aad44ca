"""
What a student takes from a teacher ensemble
============================================

Two small teachers, trained on a slice of Fashion-MNIST with different augmentations,
are distilled into one student with the reference ensemble KD loss (per teacher
0.6 CE + 0.4 :math:`\\tau^2` KL, :math:`\\tau = 3`, averaged over teachers). We then
measure what :mod:`graphkd.analysis` measures: the student's fidelity to the ensemble,
the mutual information of top-1 predictions, where the networks look (class-activation
maps and their IoU), and how each network relates the samples of one batch.
``graphkd analyze`` writes the same measures and figures for checkpoints into a report.
"""

# %%
# Data and networks
# -----------------
# 512 training and 256 test images. Teacher 1 trains on weakly augmented views
# (random-resized crop, flip, rotation), teacher 2 on strongly augmented ones (the same
# plus AutoAugment and Cutout), from :func:`~graphkd.data.ensemble_augmentation`.
# During distillation :class:`~graphkd.data.EnsembleViews` gives each teacher the
# student's view (``None``, the reference protocol) or a transform of its own.
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from graphkd.data import (
    EnsembleSample,
    EnsembleViews,
    FashionMNIST,
    create_dataset,
    dataset_info,
    ensemble_augmentation,
)
from graphkd.distill.ensemble import ensemble_kd
from graphkd.models import create_model, tap

torch.manual_seed(0)
info = dataset_info("fashion_mnist")
# crops keep at least half of the image: small images lose their object otherwise
weak = info.transform(ensemble_augmentation("weak", 28, scale=(0.5, 1.0)))
strong = info.transform(ensemble_augmentation("strong", 28, scale=(0.5, 1.0)))
train_images = Subset(FashionMNIST(train=True), range(512))  # PIL images, no transform
test = Subset(create_dataset("fashion_mnist", train=False), range(256))


class Viewed(torch.utils.data.Dataset):
    """Yields ``(transform(image), label)``: a view, or an ensemble sample of views."""

    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return len(train_images)

    def __getitem__(self, index):
        image, label = train_images[index]
        return self.transform(image), label


def network(name):
    return tap(create_model(name, num_classes=10, in_channels=1, input_size=28))


def train(model, transform, epochs, step):
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)  # fast on a few steps
    loader = DataLoader(Viewed(transform), batch_size=64, shuffle=True, drop_last=True)
    model.train()
    for _ in range(epochs):
        for views, labels in loader:
            student_view = views.student if isinstance(views, EnsembleSample) else views
            loss = step(model(student_view), views, labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def cross_entropy(responses, views, labels):
    return F.cross_entropy(responses.logits, labels)


teacher_1 = train(network("resnet8"), weak, 4, cross_entropy)
teacher_2 = train(network("resnet14"), strong, 4, cross_entropy)
teachers = [teacher_1, teacher_2]

# %%
# Distilling the ensemble
# -----------------------
# :func:`~graphkd.distill.ensemble.ensemble_kd` wraps the ``"kd"`` preset in an
# :class:`~graphkd.distill.ensemble.EnsembleDistiller`; a training step feeds it one
# :class:`~graphkd.Responses` per teacher and adds ``ce_weight`` times the student's
# cross-entropy once.
distiller = ensemble_kd()


def ensemble_step(responses, views, labels):
    with torch.no_grad():
        teacher_responses = [t(view) for t, view in zip(teachers, views.teachers)]
    out = distiller(teacher_responses, responses)
    return distiller.ce_weight * F.cross_entropy(responses.logits, labels) + out["loss"]


# both teachers see the student's weak view; EnsembleViews(weak, [weak, strong]) would
# give each a fresh draw of its own strength instead
student = train(network("resnet8"), EnsembleViews(weak, [None, None]), 4, ensemble_step)

# %%
# Fidelity and mutual information
# -------------------------------
# Top-1 agreement with the ensemble (argmax of the mean logits), the KL divergence of
# the student's predictions from the softmax of the mean logits, and the plug-in mutual
# information between top-1 predictions, per batch of 64 then averaged.
from graphkd.analysis import attention_iou, cam, fidelity, mutual_information

images, labels = next(iter(DataLoader(test, batch_size=len(test))))
with torch.no_grad():
    logits = {
        "teacher 1": teacher_1(images).logits,
        "teacher 2": teacher_2(images).logits,
        "student": student(images).logits,
    }
ensemble = (logits["teacher 1"] + logits["teacher 2"]) / 2
for name, z in logits.items():
    print(f"{name}: test accuracy {(z.argmax(1) == labels).float().mean():.3f}")
result = fidelity(logits["student"], [logits["teacher 1"], logits["teacher 2"]])
print(
    f"fidelity: agreement {result.agreement:.3f}, KL {result.kl:.4f} (x10: {result.kl_scaled:.3f})"
)
batches = list(ensemble.split(64)), list(logits["student"].split(64))
print(
    f"MI(ensemble top-1; student top-1) = {mutual_information(*batches, num_classes=10):.3f} nats"
)

# %%
# Where the networks look
# -----------------------
# :func:`~graphkd.analysis.cam` sums the class-activation maps of all classes, upsamples
# them to 28 x 28 and scales each to [0, 1]; :func:`~graphkd.analysis.attention_iou`
# compares the regions above 0.4.
import matplotlib.pyplot as plt

from graphkd.analysis import plot_cam_overlays

maps = {name: cam(model, images) for name, model in zip(logits, [*teachers, student])}
for a, b in [("teacher 1", "teacher 2"), ("teacher 1", "student"), ("teacher 2", "student")]:
    print(f"attention IoU {a} / {b}: {attention_iou(maps[a], maps[b]):.3f}")
raw = torch.stack([torch.as_tensor(test.dataset.data[i]) for i in range(5)])[:, None]
plot_cam_overlays(raw, {name: m[:5] for name, m in maps.items()})
plt.show()

# %%
# How the networks relate the samples of a batch
# ----------------------------------------------
# :func:`~graphkd.analysis.prediction_relation` is the cosine similarity of two samples'
# predicted distributions; sorted by class, a network that separates the classes shows
# bright diagonal blocks. The last panel shows where the student's relations differ
# from the ensemble's.
from graphkd.analysis import plot_knn_graph, plot_relations

few = slice(0, 48)
relation_logits = {name: z[few] for name, z in logits.items()}
relation_logits["ensemble"] = ensemble[few]
plot_relations(relation_logits, labels[few], difference=("ensemble", "student"))
plt.show()

# %%
# The student's kNN graph
# -----------------------
# Each of 48 test samples linked to its 5 nearest neighbours in the student's embedding,
# drawn through :func:`graphkd.graphs.to_networkx`; colours are the true classes.
with torch.no_grad():
    embedding = student(images[few]).embedding
plot_knn_graph(embedding, labels[few], k=5, title="student: 5-NN graph of 48 test images")
plt.show()

# %%
# The same for checkpoints, from the command line
# -----------------------------------------------
# Save the networks (``torch.save({"model": net.state_dict()}, path)``) and run
#
# .. code-block:: bash
#
#    graphkd analyze --teachers t1.pt,t2.pt --teacher-models resnet8,resnet14 \
#        --student s.pt --student-model resnet8 --dataset fashion_mnist \
#        --subset 256 --output report
#
# for ``report/report.md`` with every measure above, the augmentations' affinity,
# the train-validation gap and these figures.
