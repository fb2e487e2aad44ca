"""FitNets (Romero et al., ICLR 2015): a regressed student map matches a teacher hint."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import shaped_feature
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.distill.stage_pairs import sample_graph
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses, check_finite

Shape = Tuple[int, int, int]


def middle_feature(shapes: Dict[str, Sequence[int]]) -> str:
    """The middle tapped feature, index ``(n - 1) // 2`` shallow to deep.

    For every zoo model this is the map mdistiller's ``HINT_LAYER = 2`` selects: resnets,
    wide resnets and ShuffleNets tap three stages (the second), ``ResNet50`` and
    MobileNetV2 four (the second), VGG five (the third, ``relu2``).
    """
    names = list(shapes)
    if not names:
        raise ValueError(
            "the model taps no features; fitnet reads a tapped stage output (tap the stage "
            "outputs with graphkd.models.tap(model), which zoo models do by default)"
        )
    return names[(len(names) - 1) // 2]


def _shape_of(
    shapes: Optional[Dict[str, Sequence[int]]], name: Optional[str], who: str
) -> Tuple[str, Shape]:
    if shapes is None:
        raise ValueError(
            f"fitnet needs {who}_shapes, the (C, H, W) of each tapped feature, e.g. "
            "{'layer1': (64, 32, 32), 'layer2': (128, 16, 16)}; the trainer passes it from "
            "the tapped models"
        )
    chosen = middle_feature(shapes) if name is None else name
    if chosen not in shapes:
        raise ValueError(
            f"{who} hint {chosen!r} is not among the {who}'s tapped features "
            f"({', '.join(shapes) or 'none'}); pick one of them"
        )
    shape = tuple(int(v) for v in shapes[chosen])
    if len(shape) != 3:
        raise ValueError(
            f"the {who}'s feature {chosen!r} has shape {shape}; fitnet needs a spatial map "
            "(C, H, W)"
        )
    return chosen, shape  # type: ignore[return-value]


class HintRegressor(nn.Module):
    r"""FitNets' convolutional regressor: a student map to the teacher hint's shape.

    With student :math:`(C_s, H_s, W_s)` and teacher :math:`(C_t, H_t, W_t)`:

    * :math:`H_s = 2 H_t`: a 3x3 convolution of stride 2 and padding 1;
    * :math:`2 H_s = H_t`: a 4x4 transposed convolution of stride 2 and padding 1;
    * :math:`H_s \ge H_t`: a convolution with kernel
      :math:`(1 + H_s - H_t) \times (1 + W_s - W_t)` (a 1x1 one for equal sizes);

    each followed by a batch norm over :math:`C_t` channels and, with ``relu``, a ReLU
    (mdistiller's ``ConvReg``). A student map smaller than the teacher's, other than
    exactly halved, is rejected.

    Shapes: input ``(B, C_s, H_s, W_s)``, output ``(B, C_t, H_t, W_t)``.

    Example
    -------
    >>> import torch
    >>> regressor = HintRegressor((16, 8, 8), (32, 16, 16))
    >>> tuple(regressor(torch.randn(2, 16, 8, 8)).shape)
    (2, 32, 16, 16)
    """

    def __init__(self, student_shape: Shape, teacher_shape: Shape, relu: bool = True) -> None:
        super().__init__()
        (s_c, s_h, s_w), (t_c, t_h, t_w) = student_shape, teacher_shape
        self.conv: nn.Module
        if s_h == 2 * t_h:
            self.conv = nn.Conv2d(s_c, t_c, kernel_size=3, stride=2, padding=1)
            out = ((s_h - 1) // 2 + 1, (s_w - 1) // 2 + 1)
        elif 2 * s_h == t_h:
            self.conv = nn.ConvTranspose2d(s_c, t_c, kernel_size=4, stride=2, padding=1)
            out = (2 * s_h, 2 * s_w)
        elif s_h >= t_h and s_w >= t_w:
            self.conv = nn.Conv2d(s_c, t_c, kernel_size=(1 + s_h - t_h, 1 + s_w - t_w))
            out = (t_h, t_w)
        else:
            out = (-1, -1)
        if out != (t_h, t_w):
            raise ValueError(
                f"fitnet cannot regress a student map of shape {tuple(student_shape)} to the "
                f"teacher hint's {tuple(teacher_shape)}: the student's map must be as large "
                "as the teacher's or larger, or exactly half or twice its size in both "
                "dimensions; choose other hints (hint=..., student_hint=...)"
            )
        self.bn = nn.BatchNorm2d(t_c)
        self.relu = relu
        self.student_shape = tuple(student_shape)
        self.teacher_shape = tuple(teacher_shape)

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation of the convolution, a unit batch norm."""
        self.conv.reset_parameters()  # type: ignore[operator]
        self.bn.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        # in place, as mdistiller's ReLU(inplace=True): the batch norm's backward pass
        # reads its input, not this output, and a fresh map costs page faults on the CPU
        return torch.relu_(out) if self.relu else out


class FitNetDistiller(GraphMatchingDistiller):
    r"""FitNets hints (Romero et al., ICLR 2015) as one node term on a graph of samples.

    Each sample is a node carrying one tapped map: the teacher's hint :math:`h^t_i`
    (``ndata["hint"]``, ``(C_t, H_t, W_t)``) and the student's guided map after the
    regressor, :math:`r(g^s_i)`. Node :math:`i` of the student graph is matched with node
    :math:`i` of the teacher graph (identity edges from each teacher sample to the same
    student sample) by the mean squared error

    .. math::
        \mathcal{L} = w\, \frac{1}{B\, C_t H_t W_t} \sum_i \big\| r(g^s_i) - h^t_i \big\|_2^2 .

    The regressor (:class:`HintRegressor`) trains with the student.

    Parameters
    ----------
    teacher_shapes, student_shapes : dict of str to (C, H, W)
        Every tapped feature's shape (the trainer passes them).
    hint, student_hint : str, optional
        The teacher's hint and the student's guided layer (default: each model's middle
        tapped feature, :func:`middle_feature`).
    weight : float
        :math:`w` (100).
    ce_weight, check_inputs
        As for every :class:`~graphkd.GraphMatchingDistiller` (1, ``True``).
    relu : bool
        End the regressor with a ReLU (``True``, as mdistiller).
    """

    graph_name = "samples"

    def __init__(
        self,
        teacher_shapes: Optional[Dict[str, Sequence[int]]] = None,
        student_shapes: Optional[Dict[str, Sequence[int]]] = None,
        hint: Optional[str] = None,
        student_hint: Optional[str] = None,
        weight: float = 100.0,
        ce_weight: float = 1.0,
        relu: bool = True,
        check_inputs: bool = True,
    ) -> None:
        term = MatchTerm("hint", field="hint", on="nodes", metric="mse", weight=weight)
        super().__init__(self.teacher_graph, self.student_graph, [term], ce_weight, check_inputs)
        self.hint, teacher_shape = _shape_of(teacher_shapes, hint, "teacher")
        self.student_hint, student_shape = _shape_of(student_shapes, student_hint, "student")
        self.regressor = HintRegressor(student_shape, teacher_shape, relu=relu)

    def _map(self, responses: Responses, name: str, shape: Tuple[int, ...], who: str) -> Tensor:
        feature = shaped_feature(responses, name, shape, who, "fitnet")
        if self.check_inputs:
            check_finite({f"{who} feature {name!r}": feature})
        return feature

    def teacher_graph(self, responses: Responses) -> KnowledgeGraph:
        """Samples as nodes with the teacher's hint, ``ndata["hint"]`` ``(B, C_t, H_t, W_t)``."""
        hint = self._map(responses, self.hint, self.regressor.teacher_shape, "teacher")
        return sample_graph({"hint": hint})

    def student_graph(self, responses: Responses) -> KnowledgeGraph:
        """Samples as nodes with the regressed guided map, ``ndata["hint"]``
        ``(B, C_t, H_t, W_t)``."""
        guided = self._map(responses, self.student_hint, self.regressor.student_shape, "student")
        return sample_graph({"hint": self.regressor(guided)})


@METHODS.register("fitnet")
@preset(FitNetDistiller)
def fitnet() -> FitNetDistiller:
    r"""FitNets: hints for thin deep nets (Romero et al., ICLR 2015), mdistiller's form.

    .. math::
        \mathcal{L} = w\, \mathrm{MSE}\big(r(g^s), h^t\big), \qquad w = 100,

    with :math:`h^t` the teacher's hint map, :math:`g^s` the student's guided map and
    :math:`r` a learned convolutional regressor (:class:`HintRegressor`); trained in one
    stage with the cross-entropy (weight 1), as mdistiller and RepDistiller do.

    Parameters
    ----------
    teacher_shapes, student_shapes : dict of str to (C, H, W)
        The tapped features' shapes (required; the trainer passes them).
    hint, student_hint : str, optional
        Teacher hint and student guided layer (default: the middle tapped feature of each
        model, mdistiller's hint layer 2 for the zoo's CIFAR models).
    weight : float
        100.
    ce_weight : float
        1.
    relu : bool
        ``True``: the regressor ends with a ReLU.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> shapes = {"layer1": (8, 8, 8), "layer2": (16, 4, 4), "layer3": (32, 2, 2)}
    >>> distiller = fitnet(teacher_shapes=shapes, student_shapes=shapes)
    >>> distiller.hint
    'layer2'
    >>> def responses():
    ...     maps = {k: torch.rand(4, *s) for k, s in shapes.items()}
    ...     return Responses(torch.randn(4, 10), features=maps)
    >>> sorted(distiller(responses(), responses()))
    ['hint', 'loss']
    """
