"""
The attention graphs of MHGD
============================

MHGD (Lee & Song, BMVC 2019) describes each sample at each stage of a network by the
top right-singular vector of its feature map, and relates consecutive stages with a
multi-head attention network: the samples of one batch at the shallower stage send
edges to the samples at the deeper stage, and each edge carries one attention score per
head. Its first stage trains these attention networks on the teacher alone; the second
makes the student reproduce the teacher's attention graphs.

Here a small teacher is trained briefly on 512 Fashion-MNIST images, MHGD's first stage
runs on it, and the teacher's attention graph of one batch is drawn, one heatmap per
head.
"""

# %%
# A small teacher
# ---------------
# The zoo's resnet8, adapted to one-channel 28x28 images, trained for two epochs.
# Fashion-MNIST is read from the user's data directory or Debian's
# ``dataset-fashion-mnist`` package.
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

import graphkd
from graphkd.data import create_dataset
from graphkd.models import create_model, tap

torch.manual_seed(0)
train = Subset(create_dataset("fashion_mnist", train=True), range(512))
loader = DataLoader(train, batch_size=64, shuffle=True, drop_last=True)
teacher = tap(create_model("resnet8", num_classes=10, in_channels=1, input_size=28))
optimiser = torch.optim.SGD(teacher.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
for _ in range(2):
    for images, labels in loader:
        loss = F.cross_entropy(teacher(images).logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
teacher = teacher.eval()  # an assignment: the gallery shows no model repr

# %%
# Stage 1: attention networks on the frozen teacher
# -------------------------------------------------
# The sensing points are the tapped stage outputs ``layer1..3`` (16, 32 and 64
# channels), so MHGD builds two attention networks, layer1 -> layer2 and layer2 ->
# layer3, each with 8 heads. In stage ``"attention"`` only they train, on
# ``stage_loss``: each predicts the deeper singular vectors from the shallower ones
# through its attention. The teacher is frozen, so its responses are computed once.
channels = {"layer1": 16, "layer2": 32, "layer3": 64}
mhgd = graphkd.create_method("mhgd", teacher_channels=channels, student_channels=channels)
print([(stage.name, stage.epochs, stage.trains) for stage in mhgd.stages()])

with torch.no_grad():
    batches = [teacher(images) for images, _ in loader]
mhgd.set_stage("attention")
mhgd.train()
optimiser = torch.optim.SGD(mhgd.parameters(), lr=0.1, momentum=0.9, nesterov=True)
for epoch in range(12):
    for responses in batches:
        out = mhgd.stage_loss("attention", responses)
        optimiser.zero_grad()
        out["loss"].backward()
        optimiser.step()
    if epoch % 4 == 0 or epoch == 11:
        print(f"epoch {epoch + 1}: 1 - cos(predicted, actual) = {out['estimation'].item():.3f}")

# %%
# The teacher's attention graph on one batch
# ------------------------------------------
# In stage ``"transfer"`` the attention networks are frozen and their batch norms use
# the statistics gathered in stage 1. The teacher graph holds, on every edge
# front sample j -> back sample i of each member graph, :math:`G_h = \tanh S_h`; the
# student is taught :math:`P_h = \mathrm{softmax}_j G_h` at each back sample. Below is
# :math:`P_h` of the layer2 -> layer3 graph for 64 test images sorted by class.
import matplotlib.pyplot as plt

test = Subset(create_dataset("fashion_mnist", train=False), range(64))
images, labels = next(iter(DataLoader(test, batch_size=64)))
order = labels.argsort()
images, labels = images[order], labels[order]
mhgd.set_stage("transfer")
with torch.no_grad():
    graph = mhgd.teacher_graph(teacher(images))
batch = len(labels)
second = graph.edata["attention"][batch * batch :]  # member 1: layer2 -> layer3
# Edge j * B + i runs from front sample j to back sample i: rows i, columns j.
attention = torch.softmax(second.view(batch, batch, -1).permute(2, 1, 0), dim=-1)

boundaries = [i - 0.5 for i in range(1, batch) if labels[i] != labels[i - 1]]
figure, axes = plt.subplots(2, 4, figsize=(12, 6.4), constrained_layout=True)
for head, axis in enumerate(axes.flat):
    shown = axis.imshow(attention[head], cmap="viridis")
    for boundary in boundaries:
        axis.axhline(boundary, color="white", linewidth=0.4)
        axis.axvline(boundary, color="white", linewidth=0.4)
    axis.set_title(f"head {head + 1}")
    axis.set_xticks([])
    axis.set_yticks([])
figure.colorbar(shown, ax=axes, shrink=0.8, label="attention of back sample (row) on front sample")
figure.suptitle("teacher attention graph layer2 -> layer3, samples sorted by class")
plt.show()
