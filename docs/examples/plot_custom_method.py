"""
A new relational method in a few lines
======================================

We write a relational distillation method that graphkd does not ship: each sample's
*k* nearest neighbours in the teacher's embedding space form a graph, and the student
must reproduce the teacher's softmax distribution over each neighbourhood (a KL edge
metric). Then we train a small student with it on a slice of Fashion-MNIST, next to a
student trained with cross-entropy alone.
"""

# %%
# The method: a builder and one match term
# ----------------------------------------
# The builder turns a network's :class:`~graphkd.Responses` into a
# :class:`~graphkd.KnowledgeGraph`. The student's graph reuses the teacher's edges
# (``like``), so that the edge fields of both graphs can be compared.
import torch
import torch.nn.functional as F

import graphkd
from graphkd.graphs import edge_features, knn_graph


def neighbourhoods(responses, like=None):
    graph = like.same_topology() if like is not None else knn_graph(responses.embedding, k=8)
    graph.edata["similarity"] = edge_features.cosine(graph, responses.embedding)
    return graph


method = graphkd.GraphMatchingDistiller(
    neighbourhoods,
    terms=[
        graphkd.MatchTerm(
            "neighbourhood_kl",
            "similarity",
            on="edges",
            metric="kl",
            weight=0.1,
            options={"temperature": 0.1},
        )
    ],
)

# %%
# Data, teacher and students
# --------------------------
# Fashion-MNIST is read from the user's data directory or Debian's
# ``dataset-fashion-mnist`` package. We take 1,024 training images and the zoo's
# smallest networks, adapted to one-channel 28x28 input.
from torch.utils.data import DataLoader, Subset

from graphkd.data import create_dataset
from graphkd.models import create_model, tap

torch.manual_seed(0)
train = Subset(create_dataset("fashion_mnist", train=True), range(1024))
test = Subset(create_dataset("fashion_mnist", train=False), range(500))
loader = DataLoader(train, batch_size=64, shuffle=True, drop_last=True)


def network(name):
    return tap(create_model(name, num_classes=10, in_channels=1, input_size=28))


def accuracy(model):
    model.eval()
    with torch.no_grad():
        correct = sum(
            (model(x).logits.argmax(1) == y).sum().item() for x, y in DataLoader(test, 500)
        )
    return correct / len(test)


def train_epochs(model, epochs, distiller=None, teacher=None, optimiser=None):
    parameters = list(model.parameters()) + (list(distiller.parameters()) if distiller else [])
    if optimiser is None:
        optimiser = torch.optim.SGD(parameters, lr=0.05, momentum=0.9, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        for images, labels in loader:
            student = model(images)
            loss = F.cross_entropy(student.logits, labels)
            if distiller is not None:
                with torch.no_grad():
                    teacher_responses = teacher(images)
                loss = loss + distiller(teacher_responses, student)["loss"]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model


# the teacher trains with Adam, which reaches a useful accuracy in a few dozen steps
teacher = network("resnet14")
adam = torch.optim.Adam(teacher.parameters(), lr=3e-3)
teacher = train_epochs(teacher, epochs=3, optimiser=adam).eval()
print(f"teacher accuracy: {accuracy(teacher):.3f}")

# %%
# Train two students from the same initialisation
# -----------------------------------------------
# Two epochs of 16 batches show that the method trains; they do not show that it helps.
# At this length the students' accuracies move by more than the method changes them:
# with the term's weight at 1, two data orders gave the kNN-KL student 0.36 and 0.18
# top-1; at 0.1 (used here) 0.40 and 0.32 (the run below), against 0.36 for
# cross-entropy alone. The small weight keeps the relational loss from swamping the
# cross-entropy this early; judging a method takes full schedules and several seeds
# (see the benchmarks page).
torch.manual_seed(1)
initial = network("resnet8").state_dict()
baseline, distilled = network("resnet8"), network("resnet8")
baseline.load_state_dict(initial)
distilled.load_state_dict(initial)
train_epochs(baseline, epochs=2)
train_epochs(distilled, epochs=2, distiller=method, teacher=teacher)
print(f"cross-entropy student: {accuracy(baseline):.3f}")
print(f"kNN-KL student:        {accuracy(distilled):.3f}")

# %%
# Look at one batch's graph
# -------------------------
# The teacher's kNN graph on one batch, drawn through networkx.
import matplotlib.pyplot as plt
import networkx as nx

from graphkd.graphs import to_networkx

images, labels = next(iter(DataLoader(test, batch_size=32)))
graph = neighbourhoods(teacher(images))
drawing = to_networkx(graph)
positions = nx.spring_layout(drawing, seed=0)
nx.draw_networkx(
    drawing,
    positions,
    node_color=labels.tolist(),
    cmap="tab10",
    node_size=120,
    with_labels=False,
    arrows=False,
    width=0.4,
)
plt.title("teacher kNN graph (k = 8), colour = class")
plt.axis("off")
plt.show()
