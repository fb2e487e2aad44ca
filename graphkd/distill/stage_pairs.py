r"""Pairing a teacher's and a student's tapped stage outputs: which are paired, their
maps (checked), and the graphs of the batch's samples that carry them.

Two ways of choosing the pairs, both by order: :func:`resolve_pairs` reads the names
alone (methods whose terms need no channel counts: AT, NST, FSP, KD-SVD) and
:func:`paired_features` reads them with their channel counts
(methods with adaptors built to those widths: VID, OFD, AB). By default both keep the
:math:`\min(n_t, n_s)` deepest tapped stage outputs of each network.
:class:`StagePairDistiller` is the base of those presets that build the teacher's and
the student's graphs together (all but NST), and holds their shared options once;
:class:`ChannelPairDistiller` adds the channel dicts as options (all but AB, which is
told the shapes).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from graphkd.distill.distiller import GraphMatchingDistiller, _validate
from graphkd.distill.inputs import pool_to_smaller, stage_maps
from graphkd.distill.match_term import MatchTerm
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.responses import Responses, check_finite


def resolve_pairs(
    method: str,
    teacher_channels: Optional[Dict[str, int]],
    student_channels: Optional[Dict[str, int]],
    teacher_features: Optional[Sequence[str]],
    student_features: Optional[Sequence[str]],
) -> Tuple[List[str], List[str]]:
    """The paired teacher and student stage outputs a feature-map method reads.

    Given lists are used as they are (as many of each); a side left out defaults to the
    keys of its channel dict (the tapped stage outputs the trainer reports), and when
    both are left out the deeper sides are cut to the :math:`\\min(n_t, n_s)` deepest
    stages of each. A :class:`StagePairDistiller` (unless it
    :attr:`~StagePairDistiller.adapts_widths`) and the NST distiller choose their pairs
    with it, from these options of theirs.

    Parameters
    ----------
    method : str
        The preset's name, which words the messages.
    teacher_channels, student_channels : dict of str to int, optional
        The tapped stage outputs, shallow to deep, and their channels (the trainer passes
        them); their keys are the default stage lists.
    teacher_features, student_features : sequence of str, optional
        The stage outputs to pair, shallow to deep (default: every tapped one, the deeper
        network cut to the other's count of deepest stages).

    Example
    -------
    >>> resolve_pairs("at", {"a": 4, "b": 8, "c": 16}, {"x": 8, "y": 16}, None, None)
    (['b', 'c'], ['x', 'y'])
    """
    sides = []
    for who, channels, features in (
        ("teacher", teacher_channels, teacher_features),
        ("student", student_channels, student_features),
    ):
        if features is not None:
            names = list(features)
        elif channels is not None:
            names = list(channels)
        else:
            raise ValueError(
                f"{method} needs to know which of the {who}'s tapped stage outputs to read: "
                f"pass {who}_features=[...] (names of tapped features, shallow to deep) or "
                f"{who}_channels (the trainer passes it from the tapped models)"
            )
        if not names:
            raise ValueError(f"{method} needs at least one {who} stage output, got none")
        if len(set(names)) != len(names):
            raise ValueError(f"{method}: the {who}'s stage outputs repeat a name: {names}")
        sides.append(names)
    teacher, student = sides
    if teacher_features is None and student_features is None:
        teacher, student = deepest_in_common(teacher, student)
    check_pairing(teacher, student, method)
    return teacher, student


def deepest_in_common(teacher: List[str], student: List[str]) -> Tuple[List[str], List[str]]:
    r"""The :math:`\min(n_t, n_s)` deepest stage outputs of each side (lists shallow to
    deep): the pairing by order aligned at the deep end, as mdistiller aligns stage
    lists."""
    count = min(len(teacher), len(student))
    return teacher[len(teacher) - count :], student[len(student) - count :]


def chosen_features(
    available: Mapping[str, object], chosen: Optional[Sequence[str]], who: str, listed_in: str
) -> List[str]:
    """The feature names ``chosen`` (default: every key of ``available``, in order), each
    one of the keys of ``available``, the tapped features that ``listed_in`` (the
    option's name, such as ``"teacher_channels"``) describes.

    Example
    -------
    >>> chosen_features({"layer1": 8, "layer2": 16}, ["layer3"], "student", "student_channels")
    Traceback (most recent call last):
        ...
    ValueError: student_features names ['layer3'], which student_channels does not list (['layer1', 'layer2']); name tapped stage outputs
    """
    names = list(available) if chosen is None else list(chosen)
    missing = [name for name in names if name not in available]
    if missing:
        raise ValueError(
            f"{who}_features names {missing}, which {listed_in} does not list "
            f"({list(available)}); name tapped stage outputs"
        )
    return names


def term_name(method: str, *features: str) -> str:
    """The output key of a term over tapped ``features``: ``"<method>_<feature>_..."``,
    dots (module paths such as ``block2.layer.0.relu1``) written as underscores, since
    term names key module dicts."""
    return "_".join([method, *features]).replace(".", "_")


def node_terms(
    method: str, names: Sequence[str], metrics: Sequence[Metric], weights: Sequence[float]
) -> List[MatchTerm]:
    """One node term per paired stage, for methods whose sample graphs carry a field per
    stage named after the teacher's stage (VID, OFD, AB): term :math:`k`,
    ``"<method>_<names[k]>"`` (:func:`term_name`), compares field ``names[k]`` by
    ``metrics[k]``, weighted ``weights[k]``.

    Example
    -------
    >>> from graphkd.metrics import create_metric
    >>> [(t.name, t.field, t.weight) for t in node_terms("ofd", ["a.b"], [create_metric("mse")], [2.0])]
    [('ofd_a_b', 'a.b', 2.0)]
    """
    return [
        MatchTerm(term_name(method, name), field=name, on="nodes", metric=metric, weight=weight)
        for name, metric, weight in zip(names, metrics, weights)
    ]


def halving_weights(weight: float, count: int) -> List[float]:
    r"""The weights :math:`w\, 2^{k - n}`, :math:`k = 1 \dots n`, of ``count`` stage
    pairs shallow to deep: the deepest pair weighs :math:`w`, each shallower one half the
    next (OFD, AB).

    Example
    -------
    >>> halving_weights(1.0, 3)
    [0.25, 0.5, 1.0]
    """
    return [weight * 2.0 ** (k - count + 1) for k in range(count)]


def check_pairing(teacher: List[str], student: List[str], method: str) -> None:
    """Teacher and student stage outputs are paired by order: as many of each."""
    if len(teacher) != len(student):
        raise ValueError(
            f"{method} pairs the stage outputs by order, but the teacher has {len(teacher)} "
            f"{teacher} and the student {len(student)} {student}; select as many of each "
            "with teacher_features=[...] and student_features=[...]"
        )


def paired_maps(
    teacher: Responses,
    student: Responses,
    teacher_features: List[str],
    student_features: List[str],
    method: str,
    check_inputs: bool,
) -> List[Tuple[Tensor, Tensor]]:
    """``[(student map, teacher map), ...]`` of the paired stage outputs, the teacher's
    detached; with ``check_inputs`` the maps are rejected when they hold NaN or Inf."""
    if check_inputs:
        _validate(teacher, student)
    t_maps = stage_maps(teacher, teacher_features, "teacher", method)
    s_maps = stage_maps(student, student_features, "student", method)
    if check_inputs:
        check_maps_finite((teacher_features, t_maps), (student_features, s_maps))
    return [(s, t.detach()) for s, t in zip(s_maps, t_maps)]


def check_maps_finite(
    teacher: Tuple[Sequence[str], Sequence[Tensor]], student: Tuple[Sequence[str], Sequence[Tensor]]
) -> None:
    """Raise a ``ValueError`` naming the first of the teacher's and then the student's
    maps that holds NaN or Inf (:func:`~graphkd.responses.check_finite`, one host
    synchronisation); each side is ``(names, maps)``."""
    named = {}
    for who, (names, maps) in (("teacher", teacher), ("student", student)):
        named.update({f"{who} feature {name!r}": m for name, m in zip(names, maps)})
    check_finite(named)


def paired_features(
    method: str,
    teacher_channels: Optional[Dict[str, int]],
    student_channels: Optional[Dict[str, int]],
    teacher_features: Optional[Sequence[str]] = None,
    student_features: Optional[Sequence[str]] = None,
) -> Tuple[List[str], List[str], List[int], List[int]]:
    """The teacher's and the student's tapped features paired by order, and their channel
    counts: ``(teacher names, student names, teacher widths, student widths)``.

    By default each side's tapped features (the keys of its channel dict, shallow to
    deep) are aligned at the deep end and the ``min(n_t, n_s)`` deepest of each are kept,
    as mdistiller aligns stage lists; ``teacher_features`` / ``student_features`` choose
    them explicitly (as many of each).

    Example
    -------
    >>> paired_features("vid", {"a": 4, "b": 8, "c": 16}, {"x": 8, "y": 16})
    (['b', 'c'], ['x', 'y'], [8, 16], [8, 16])
    """
    sides = {}
    for who, channels, chosen in (
        ("teacher", teacher_channels, teacher_features),
        ("student", student_channels, student_features),
    ):
        if channels is None:
            raise ValueError(
                f"{method} needs {who}_channels, the channel count of each tapped stage output "
                "(dict feature name -> channels, shallow to deep), e.g. {'layer1': 64, "
                "'layer2': 128}; the trainer passes it from the tapped models"
            )
        if isinstance(chosen, str):
            raise ValueError(
                f"{who}_features must be a list of feature names, got the string {chosen!r}; "
                f"write {who}_features=[{chosen!r}]"
            )
        names = chosen_features(channels, chosen, who, f"{who}_channels")
        if len(set(names)) != len(names):
            raise ValueError(f"{who}_features lists {names}; name each feature once")
        sides[who] = names
    teacher, student = sides["teacher"], sides["student"]
    if teacher_features is None and student_features is None:
        teacher, student = deepest_in_common(teacher, student)
    if len(teacher) != len(student):
        raise ValueError(
            f"{method} pairs teacher and student features by order, but got {len(teacher)} "
            f"teacher features {teacher} and {len(student)} student features {student}; "
            "list as many of each with teacher_features=[...] and student_features=[...]"
        )
    if not teacher:
        raise ValueError(
            f"{method} compares tapped feature maps but none are tapped; tap stage outputs "
            "with graphkd.models.tap(model, features=[...])"
        )
    assert teacher_channels is not None and student_channels is not None
    t_widths = [int(teacher_channels[name]) for name in teacher]
    s_widths = [int(student_channels[name]) for name in student]
    return teacher, student, t_widths, s_widths


def sample_graph(fields: Dict[str, Tensor]) -> KnowledgeGraph:
    """The edgeless graph of a batch's samples carrying ``fields`` (``(B, ...)`` each, at
    least one) as node data: node :math:`i` of a teacher's graph is matched with node
    :math:`i` of the student's.

    Example
    -------
    >>> graph = sample_graph({"hint": torch.zeros(4, 3, 2, 2)})
    >>> graph.num_nodes, graph.num_edges
    (4, 0)
    """
    first = next(iter(fields.values()))
    none = torch.empty(0, dtype=torch.long, device=first.device)
    return KnowledgeGraph(none, none, first.shape[0], ndata=fields)


def sample_graphs(
    teacher_fields: Dict[str, Tensor], student_fields: Dict[str, Tensor]
) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
    """The teacher's and the student's :func:`sample_graph`."""
    return sample_graph(teacher_fields), sample_graph(student_fields)


def tapped_maps(
    method: str, responses: Responses, names: Sequence[str], widths: Sequence[int], who: str
) -> List[Tensor]:
    """The ``(B, C, H, W)`` maps ``names`` of ``responses``
    (:func:`~graphkd.distill.inputs.stage_maps`), checked against the channel counts
    ``widths``."""
    maps = stage_maps(responses, names, who, method)
    for name, width, feature in zip(names, widths, maps):
        if feature.shape[1] != width:
            raise ValueError(
                f"the {who}'s feature {name!r} has shape {tuple(feature.shape)} but {method} "
                f"expects a (B, {width}, H, W) map ({who}_channels); pass the channel counts "
                "of the tapped maps"
            )
    return maps


def per_channel(values: Tensor, inputs: Tensor, owner: str, each: str) -> Tensor:
    """``values`` ``(C,)``, one per channel, shaped to broadcast over ``inputs``
    ``(B, C, ...)``; inputs of another channel count raise a ``ValueError`` naming the
    ``owner`` (a metric) and what it holds for ``each`` channel.

    Example
    -------
    >>> tuple(per_channel(torch.ones(3), torch.zeros(2, 3, 4, 4), "NLL", "one each").shape)
    (1, 3, 1, 1)
    """
    if inputs.dim() < 2 or inputs.shape[1] != values.numel():
        raise ValueError(
            f"{owner}: inputs of shape {tuple(inputs.shape)} need {values.numel()} channels "
            f"in dim 1 ({each})"
        )
    return values.view(1, -1, *([1] * (inputs.dim() - 2)))


def pooled_pair(student: Tensor, teacher: Tensor) -> Tuple[Tensor, Tensor]:
    """The pair at one size (:func:`~graphkd.distill.inputs.pool_to_smaller`: the taller
    map average-pooled to the other's ``(H, W)``); maps of equal height but different
    widths raise a ``ValueError``."""
    student, teacher = pool_to_smaller(student, teacher)
    if student.shape[-2:] != teacher.shape[-2:]:
        raise ValueError(
            f"student map {tuple(student.shape)} and teacher map {tuple(teacher.shape)} differ "
            "in width after pooling to the smaller height; compare maps of the same aspect ratio"
        )
    return student, teacher


class StagePairs(NamedTuple):
    """The stage outputs a :class:`StagePairDistiller` pairs, shallow to deep, paired by
    order, and their channel counts where the channel dicts give them (``None`` for a
    stage a dict does not list; every count is given when the distiller
    :attr:`~StagePairDistiller.adapts_widths`)."""

    teacher: List[str]
    student: List[str]
    teacher_widths: List[Optional[int]]
    student_widths: List[Optional[int]]


#: A stage-pair method's match terms, or a function of its chosen pairs returning them.
StageTerms = Union[Sequence[MatchTerm], Callable[[StagePairs], Sequence[MatchTerm]]]


def listed_widths(channels: Optional[Dict[str, int]], names: Sequence[str]) -> List[Optional[int]]:
    """The channel count ``channels`` gives each of ``names`` (``None`` where it gives none).

    Example
    -------
    >>> listed_widths({"a": 4, "b": 8}, ["b", "c"]), listed_widths(None, ["b"])
    ([8, None], [None])
    """
    return [
        None if channels is None or name not in channels else int(channels[name]) for name in names
    ]


class StagePairDistiller(GraphMatchingDistiller):
    r"""A :class:`~graphkd.GraphMatchingDistiller` over paired stage outputs whose two
    graphs are built together, in :meth:`_graph_pair` or :meth:`build_graphs`: the
    student's field of a pair depends on the teacher's map (pooled to one size, regressed
    to its shape, aligned with its singular vectors), so there is no builder of one side
    alone.

    The pairs are chosen once, here: by :func:`resolve_pairs` (the given stage lists as
    they are, or by default each side's tapped stage outputs, the keys of its channel
    dict, the deeper side cut to the other's count of deepest stages), or, for a method
    that :attr:`adapts_widths`, by :func:`paired_features` (the channel dicts required
    and every chosen stage one of theirs). A metric of the terms checks its inputs for
    NaN/Inf exactly when the distiller does not (``check_inputs`` off).

    The keyword-only parameters are the options every stage-pair method offers (its
    constructor ends in ``**options``, which pass them on; see
    :func:`~graphkd.distill.method_registry.constructor_options`).

    Parameters
    ----------
    method : str
        The preset's name (``"at"``), which words the messages and the errors.
    terms : sequence of MatchTerm, or callable
        The match terms, or a function of the chosen :class:`StagePairs` returning them
        (for terms named after the stages or built to their widths).
    channels : (dict of str to int, dict of str to int)
        The teacher's and the student's tapped stage outputs, shallow to deep, and their
        channels (``None`` each where not known; see :class:`ChannelPairDistiller`).
    teacher_features, student_features : sequence of str, optional
        The stage outputs read, shallow to deep, paired by order (as many of each);
        default: chosen from the channel dicts.
    ce_weight : float
        Weight of the student's cross-entropy (1).
    check_inputs : bool
        Reject NaN/Inf logits and feature maps with a ``ValueError`` naming the tensor
        (``True``).

    Example
    -------
    >>> from graphkd.distill.match_term import MatchTerm
    >>> def terms(pairs):
    ...     return [MatchTerm(term_name("pair", n), "map", "nodes", "mse") for n in pairs.teacher]
    >>> channels = {"layer1": 8, "layer2": 16, "layer3": 32}
    >>> distiller = StagePairDistiller("pair", terms, (channels, {"s": 32}))
    >>> distiller.teacher_features, distiller.student_features, distiller.terms[0].name
    (['layer3'], ['s'], 'pair_layer3')
    """

    #: Whether the method builds modules to the paired stages' channel counts (VID, OFD,
    #: AB): then both channel dicts are required and every chosen stage is one of theirs.
    adapts_widths: bool = False

    def __init__(
        self,
        method: str,
        terms: StageTerms,
        channels: Tuple[Optional[Dict[str, int]], Optional[Dict[str, int]]],
        *,
        teacher_features: Optional[Sequence[str]] = None,
        student_features: Optional[Sequence[str]] = None,
        ce_weight: float = 1.0,
        check_inputs: bool = True,
    ) -> None:
        chosen = (method, *channels, teacher_features, student_features)
        if self.adapts_widths:
            pairs = StagePairs(*paired_features(*chosen))
        else:
            teacher, student = resolve_pairs(*chosen)
            widths = listed_widths(channels[0], teacher), listed_widths(channels[1], student)
            pairs = StagePairs(teacher, student, *widths)
        super().__init__(
            self._one_side,
            terms=terms(pairs) if callable(terms) else terms,
            ce_weight=ce_weight,
            check_inputs=check_inputs,
        )
        for metric in self.metrics.values():
            metric.check_finite = not check_inputs
        self.method_name = method
        self.teacher_features, self.student_features = pairs.teacher, pairs.student
        self.teacher_widths, self.student_widths = pairs.teacher_widths, pairs.student_widths

    def _one_side(self, responses: Responses) -> KnowledgeGraph:
        raise ValueError(f"{type(self).__name__} builds both graphs together in build_graphs")

    def paired_maps(self, teacher: Responses, student: Responses) -> List[Tuple[Tensor, Tensor]]:
        """``[(student map, teacher map), ...]`` of the paired stage outputs
        (:func:`paired_maps`, checked while ``check_inputs`` is on)."""
        return paired_maps(
            teacher,
            student,
            self.teacher_features,
            self.student_features,
            self.method_name,
            self.check_inputs,
        )

    def checked_maps(
        self, teacher: Responses, student: Responses
    ) -> Tuple[List[Tensor], List[Tensor]]:
        """The teacher's and the student's paired stage maps, checked against the channel
        counts (:func:`tapped_maps`; for a method that :attr:`adapts_widths`), with the
        batch, dtype and NaN/Inf checks while ``check_inputs`` is on."""
        if self.check_inputs:
            _validate(teacher, student)
            self.check_dtype(student)
        names = (self.teacher_features, self.student_features)
        t_maps = tapped_maps(self.method_name, teacher, names[0], self.teacher_widths, "teacher")
        s_maps = tapped_maps(self.method_name, student, names[1], self.student_widths, "student")
        if self.check_inputs:
            check_maps_finite((names[0], t_maps), (names[1], s_maps))
        return t_maps, s_maps


class ChannelPairDistiller(StagePairDistiller):
    r"""A :class:`StagePairDistiller` told each network's tapped stage outputs by the
    options ``teacher_channels`` and ``student_channels`` (the trainer passes them): the
    base of AT, FSP, KD-SVD, VID and OFD, whose constructors end in ``**options``.

    Parameters
    ----------
    method, terms
        As for :class:`StagePairDistiller`.
    teacher_channels, student_channels : dict of str to int, optional
        The tapped stage outputs, shallow to deep, and their channels; their keys are
        the default stage lists.
    teacher_features, student_features, ce_weight, check_inputs
        The options of :class:`StagePairDistiller`.

    Example
    -------
    >>> from graphkd.distill.match_term import MatchTerm
    >>> def terms(pairs):
    ...     return [MatchTerm(term_name("pair", n), "map", "nodes", "mse") for n in pairs.teacher]
    >>> distiller = ChannelPairDistiller(
    ...     "pair", terms, teacher_channels={"a": 8, "b": 16}, student_channels={"x": 16}
    ... )
    >>> distiller.teacher_features, distiller.teacher_widths
    (['b'], [16])
    """

    def __init__(
        self,
        method: str,
        terms: StageTerms,
        *,
        teacher_channels: Optional[Dict[str, int]] = None,
        student_channels: Optional[Dict[str, int]] = None,
        **options: Any,
    ) -> None:
        super().__init__(method, terms, (teacher_channels, student_channels), **options)


def consecutive_term_names(method: str, features: Sequence[str]) -> List[str]:
    """The term names of a method relating consecutive stage outputs (FSP, KD-SVD), one
    per pair ``(lower, upper)``: ``"<method>_<lower>_<upper>"`` (:func:`term_name`).

    Example
    -------
    >>> consecutive_term_names("fsp", ["layer1", "layer2", "layer3"])
    ['fsp_layer1_layer2', 'fsp_layer2_layer3']
    """
    if len(features) < 2:
        raise ValueError(
            f"{method} relates consecutive stage outputs and needs at least 2, got "
            f"{list(features)}; tap (and name) more stage outputs"
        )
    return [term_name(method, low, high) for low, high in zip(features[:-1], features[1:])]
