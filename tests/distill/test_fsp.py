"""FSP against a dense translation of RepDistiller's distiller_zoo/FSP.py, and the two
phases of RepDistiller's train_student.py (initialisation on FSP alone, then CE)."""

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.base import GradientStep
from graphkd.distill.presets.fsp import FSPDistiller

B = 4
NAMES = ["layer1", "layer2", "layer3"]
SHAPES = [(3, 8, 8), (5, 4, 4), (6, 4, 4)]


def responses(shapes, seed, requires_grad=False, names=NAMES):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: torch.rand(B, *shape, generator=generator, dtype=torch.float64).requires_grad_(
            requires_grad
        )
        for name, shape in zip(names, shapes)
    }
    return Responses(
        torch.randn(B, 10, generator=generator, dtype=torch.float64), features=features
    )


# --- dense reference: RepDistiller distiller_zoo/FSP.py, in other words ------------------------


def reference_flows(maps):
    flows = []
    for low, high in zip(maps[:-1], maps[1:]):
        hl, hh = low.shape[2], high.shape[2]
        if hl > hh:
            low = torch.nn.functional.adaptive_avg_pool2d(low, (hh, hh))
        if hl < hh:
            high = torch.nn.functional.adaptive_avg_pool2d(high, (hl, hl))
        # entry [n, i, j]: mean over positions of high channel i times low channel j
        flows.append(
            torch.einsum("nip,njp->nij", high.flatten(2), low.flatten(2)) / low[0, 0].numel()
        )
    return flows


def reference_terms(students, teachers):
    return [
        ((s - t) ** 2).mean() for s, t in zip(reference_flows(students), reference_flows(teachers))
    ]


@pytest.mark.parametrize(
    "student_shapes",
    [SHAPES, [(3, 16, 16), (5, 8, 8), (6, 2, 2)], [(3, 4, 4), (5, 4, 4), (6, 8, 8)]],
    ids=["same sizes", "other sizes", "upper taller"],
)
def test_loss_and_gradients_equal_the_reference(student_shapes):
    distiller = graphkd.create_method("fsp", teacher_features=NAMES, student_features=NAMES)
    teacher = responses(SHAPES, 0)
    student = responses(student_shapes, 1, requires_grad=True)
    out = distiller(teacher, student)
    got = torch.autograd.grad(out["loss"], list(student.features.values()))

    maps = [f.detach().clone().requires_grad_(True) for f in student.features.values()]
    terms = reference_terms(maps, list(teacher.features.values()))
    expected = sum(terms)  # the reference's init stage: sum of the groups, no weight
    want = torch.autograd.grad(expected, maps)
    assert out["loss"].dtype == torch.float64
    torch.testing.assert_close(out["loss"], expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(out["fsp_layer1_layer2"], terms[0].detach())
    torch.testing.assert_close(out["fsp_layer2_layer3"], terms[1].detach())
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-14)


def test_flow_graphs_are_bipartite_channel_graphs_sharing_the_topology():
    distiller = FSPDistiller(teacher_features=NAMES, student_features=NAMES)
    teacher_graphs, student_graphs = distiller.build_graphs(
        responses(SHAPES, 0), responses(SHAPES, 1)
    )
    first_t, first_s = teacher_graphs["fsp_layer1_layer2"], student_graphs["fsp_layer1_layer2"]
    assert first_t.num_nodes == B * (3 + 5) and first_t.num_edges == B * 3 * 5
    assert first_s.src is first_t.src and first_s.dst is first_t.dst
    flow = reference_flows(list(responses(SHAPES, 0).features.values()))[0]
    # edge (lower channel a, upper channel b) of sample n carries G[n, a, b]
    torch.testing.assert_close(first_t.edata["fsp"], flow.transpose(1, 2).reshape(-1))


class Student(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Conv2d(2, 3, 1).double()
        self.classifier = torch.nn.Linear(3, 10).double()

    def forward(self, x):
        maps = torch.relu(self.features(x))
        pooled = torch.nn.functional.avg_pool2d(maps, 2)
        return maps, pooled, self.classifier(maps.mean((2, 3)))


def phase_step(epoch, init_epochs=2, after_init_weight=0.0):
    """One student step through combine_gradients, and the gradients the phase should
    give (computed first, from the same graph)."""
    torch.manual_seed(0)
    student = Student()
    teacher_maps = torch.rand(B, 3, 4, 4, dtype=torch.float64)
    teacher = Responses(
        torch.randn(B, 10, dtype=torch.float64),
        features={"a": teacher_maps, "b": torch.nn.functional.avg_pool2d(teacher_maps, 2)},
    )
    maps, pooled, logits = student(torch.rand(B, 2, 4, 4, dtype=torch.float64))
    s = Responses(logits, features={"a": maps, "b": pooled})
    distiller = graphkd.create_method(
        "fsp",
        teacher_features=["a", "b"],
        student_features=["a", "b"],
        weight=2.0,
        init_epochs=init_epochs,
        after_init_weight=after_init_weight,
    )
    out = distiller(teacher, s)
    ce = torch.nn.functional.cross_entropy(logits, torch.arange(B))
    objective = 2.0 * out["loss"] if epoch < init_epochs else ce + after_init_weight * out["loss"]
    want = torch.autograd.grad(
        objective, list(student.parameters()), retain_graph=True, allow_unused=True
    )
    distiller.combine_gradients(GradientStep(list(student.parameters()), ce, out["loss"], epoch))
    return student, want


def test_the_initialisation_phase_trains_on_fsp_alone_and_leaves_the_classifier():
    student, want = phase_step(epoch=1)
    assert distiller_combines()
    assert student.classifier.weight.grad is None and student.classifier.bias.grad is None
    for param, w in zip(student.features.parameters(), want):
        torch.testing.assert_close(param.grad, w)
        assert torch.isfinite(param.grad).all()


@pytest.mark.parametrize("after_init_weight", [0.0, 0.5])
def test_after_the_initialisation_the_student_trains_on_ce(after_init_weight):
    student, want = phase_step(epoch=2, after_init_weight=after_init_weight)
    for param, w in zip(student.parameters(), want):
        torch.testing.assert_close(param.grad, w)
        assert torch.isfinite(param.grad).all()


def distiller_combines():
    return graphkd.create_method(
        "fsp", teacher_features=NAMES, student_features=NAMES
    ).combines_gradients


def test_defaults_are_the_references():
    channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    distiller = graphkd.create_method("fsp", teacher_channels=channels, student_channels=channels)
    assert (distiller.weight, distiller.init_epochs, distiller.after_init_weight) == (1.0, 30, 0.0)
    assert distiller.ce_weight == 1.0
    assert distiller.names == ["fsp_layer1_layer2", "fsp_layer2_layer3"]


def test_identical_maps_give_zero():
    distiller = FSPDistiller(teacher_features=NAMES, student_features=NAMES)
    teacher = responses(SHAPES, 0)
    assert float(distiller(teacher, teacher)["loss"]) == 0.0


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="paired stages of equal widths"):
        graphkd.create_method(
            "fsp", teacher_channels={"a": 8, "b": 16}, student_channels={"a": 8, "b": 12}
        )
    with pytest.raises(ValueError, match="needs at least 2"):
        graphkd.create_method("fsp", teacher_features=["a"], student_features=["a"])
    with pytest.raises(ValueError, match="init_epochs must be >= 0"):
        graphkd.create_method("fsp", teacher_features=NAMES, student_features=NAMES, init_epochs=-1)
    distiller = FSPDistiller(teacher_features=NAMES, student_features=NAMES)
    with pytest.raises(ValueError, match="'layer2' has 5 channels"):
        distiller(responses(SHAPES, 0), responses([(3, 8, 8), (4, 4, 4), (6, 4, 4)], 1))
    with pytest.raises(ValueError, match="carry no feature 'layer3'"):
        distiller(responses(SHAPES, 0), responses(SHAPES[:2], 1, names=NAMES[:2]))
    bad = responses(SHAPES, 1)
    bad.features["layer3"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="student feature 'layer3' contains NaN"):
        distiller(responses(SHAPES, 0), bad)
