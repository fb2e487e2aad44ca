"""Load weights from community, plain and graphkd checkpoints into a network.

Checkpoint formats accepted by :func:`load_checkpoint`:

- community: ``{"model": state_dict, ...}`` (the CIFAR knowledge-distillation zoo);
- graphkd: ``{"format": "graphkd", "model": state_dict, ...}`` (:data:`CHECKPOINT_FORMAT`);
  training checkpoints may instead hold ``"student"``, ``"teacher"`` or
  ``"model_state"`` entries;
- a plain ``state_dict`` (names to tensors), e.g. ``torch.save(model.state_dict(), path)``.

Keys saved from a ``DistributedDataParallel``/``DataParallel`` wrapper (``module.``) or a
``torch.compile`` wrapper (``_orig_mod.``) are accepted too.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections import OrderedDict
from typing import Any, FrozenSet, List, Mapping, Optional, Set, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from .tap import TappedModel, _declared_taps, _unwrap

#: The value of ``"format"`` in graphkd's own checkpoints.
CHECKPOINT_FORMAT = "graphkd"

_ENTRIES = ("model", "model_state", "state_dict")
_ROLES = ("student", "teacher")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_SHOWN = 20
_COUNTER = "num_batches_tracked"
_Mismatch = Tuple[str, Tuple[int, ...], Tuple[int, ...]]


def _target(model: nn.Module) -> nn.Module:
    if isinstance(model, TappedModel):
        model = model.model
    return _unwrap(model)[0]


def _read(
    source: Union[str, os.PathLike[str], Mapping[str, Any]], map_location: Any
) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    try:
        loaded = torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{os.fspath(source)} holds objects other than tensors and plain containers "
            f"({error}); if you trust the file, load it with torch.load(path, "
            "weights_only=False) and pass the resulting dict"
        ) from None
    if not isinstance(loaded, Mapping):
        raise ValueError(
            f"{os.fspath(source)} holds a {type(loaded).__name__}, not a checkpoint dict; "
            "save model.state_dict() (or {'model': model.state_dict()}) instead"
        )
    return loaded


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(v, Tensor) for v in value.values())


def _select(checkpoint: Mapping[str, Any], key: Optional[str]) -> Mapping[str, Tensor]:
    if key is not None:
        if key not in checkpoint:
            raise ValueError(
                f"the checkpoint has no entry {key!r}; its entries: {sorted(map(str, checkpoint))}"
            )
        entry = key
    elif _is_state_dict(checkpoint):
        return checkpoint
    else:
        found = [k for k in _ENTRIES if k in checkpoint]
        roles = [k for k in _ROLES if k in checkpoint]
        if found:
            entry = found[0]
        elif len(roles) == 1:
            entry = roles[0]
        elif roles:
            raise ValueError(
                "the checkpoint holds both a 'student' and a 'teacher'; pass key='student' "
                "or key='teacher'"
            )
        else:
            raise ValueError(
                f"no state_dict in the checkpoint (entries: {sorted(map(str, checkpoint))}); "
                "expected a state_dict, {'model': state_dict} (community and graphkd "
                "format) or a 'student', 'teacher' or 'model_state' entry; pass key=<entry>"
            )
    state = checkpoint[entry]
    if not _is_state_dict(state):
        raise ValueError(
            f"checkpoint entry {entry!r} is a {type(state).__name__}, not a state_dict "
            "(a mapping of names to tensors); save module.state_dict() there"
        )
    return state


def _strip_wrappers(
    state: Mapping[str, Tensor], expected: Mapping[str, Tensor]
) -> Mapping[str, Tensor]:
    copied: OrderedDict[str, Tensor] = OrderedDict(state)
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        copied._metadata = metadata.copy()  # type: ignore[attr-defined]
    changed = True
    while changed and copied:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            carried = all(k.startswith(prefix) for k in copied)
            if carried and not any(k.startswith(prefix) for k in expected):
                consume_prefix_in_state_dict_if_present(copied, prefix)
                changed = True
    return copied


def _listing(title: str, items: List[str]) -> str:
    lines = "".join(f"\n    {item}" for item in items[:_SHOWN])
    more = f"\n    ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"\n  {title} ({len(items)}):{lines}{more}"


@functools.lru_cache(maxsize=1)
def _zoo_signatures() -> Tuple[Tuple[str, FrozenSet[str]], ...]:
    """(name, state_dict keys without step counters) of every zoo model, built once."""
    from .zoo import create_model, list_models

    signatures = []
    for name in list_models():
        with torch.device("meta"):
            keys = create_model(name).state_dict().keys()
        signatures.append((name, frozenset(k for k in keys if not k.endswith(_COUNTER))))
    return tuple(signatures)


def _zoo_matches(keys: List[str]) -> List[str]:
    wanted = frozenset(k for k in keys if not k.endswith(_COUNTER))
    return [name for name, signature in _zoo_signatures() if signature == wanted]


def _size_notes(model: nn.Module, shapes: List[_Mismatch]) -> Tuple[str, Set[str]]:
    """Explain a class-count or input-channel mismatch; return the note and the keys it
    explains."""
    taps = _declared_taps(model)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    classifier = taps.classifier if taps is not None else (linears[-1] if linears else None)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    note, explained = "", set()
    for key, got, want in shapes:
        if classifier is not None and key == f"{classifier}.weight" and got[1:] == want[1:]:
            note += (
                f"\n  the checkpoint is for {got[0]} classes but the model has {want[0]}: "
                f"create the model with num_classes={got[0]}, or drop {key!r} and "
                f"'{classifier}.bias' from the state_dict and load with strict=False to "
                f"train a new {want[0]}-class classifier"
            )
            explained |= {key, f"{classifier}.bias"}
        elif convs and key == f"{convs[0]}.weight" and got[:1] + got[2:] == want[:1] + want[2:]:
            note += (
                f"\n  the checkpoint takes {got[1]}-channel images but the model takes "
                f"{want[1]}: create the model with in_channels={got[1]}"
            )
            explained.add(key)
    return note, explained


def _check(model: nn.Module, state: Mapping[str, Tensor], strict: bool) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_COUNTER)]
    unexpected = [k for k in state if k not in expected]
    shapes: List[_Mismatch] = [
        (k, tuple(state[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    key_problems = strict and bool(missing or unexpected)
    if not shapes and not key_problems:
        return
    note, explained = _size_notes(model, shapes)
    if not key_problems and {k for k, _, _ in shapes} <= explained:
        raise ValueError(f"the checkpoint does not fit {type(model).__name__}:{note}")
    message = f"the checkpoint does not fit {type(model).__name__}:"
    if strict and missing:
        message += _listing("missing keys", missing)
    if strict and unexpected:
        message += _listing("unexpected keys", unexpected)
    if shapes:
        message += _listing(
            "keys with other shapes (checkpoint vs model)",
            [f"{k} {got} vs {want}" for k, got, want in shapes],
        )
    message += note
    if missing or unexpected:
        matches = _zoo_matches(list(state))
        if matches:
            message += f"\n  its keys match zoo model(s) {matches}: create_model({matches[0]!r})"
        else:
            message += "\n  build the architecture the checkpoint was trained with"
    raise ValueError(message)


def load_checkpoint(
    model: nn.Module,
    path_or_dict: Union[str, os.PathLike[str], Mapping[str, Any]],
    strict: bool = True,
    *,
    key: Optional[str] = None,
    map_location: Any = "cpu",
) -> Tuple[List[str], List[str]]:
    """Load a checkpoint's weights into ``model``.

    Parameters
    ----------
    model : nn.Module
        The network to fill: a zoo model, any ``nn.Module``, a :class:`TappedModel`, or
        a ``DistributedDataParallel``/``DataParallel``/``torch.compile`` wrapper of one.
    path_or_dict : str, path or dict
        A file written by ``torch.save`` (read with ``weights_only=True``: tensors and
        plain containers only), or the loaded dict itself. Accepted: ``{"model": sd}``
        (community and graphkd format), ``{"student": sd}``, ``{"teacher": sd}``,
        ``{"model_state": sd}``, ``{"state_dict": sd}`` and a plain state_dict ``sd``.
    strict : bool, default True
        Require the checkpoint's keys to equal the model's (as ``load_state_dict``).
        Shapes must match either way.
    key : str, optional
        The checkpoint entry holding the state_dict, when the default lookup cannot
        tell (e.g. ``key="teacher"`` for a checkpoint with both student and teacher).
    map_location : default "cpu"
        Passed to ``torch.load``.

    Returns
    -------
    (missing_keys, unexpected_keys)
        As returned by ``load_state_dict`` (both empty when ``strict``).

    Raises
    ------
    ValueError
        When the checkpoint does not fit the model: the message lists the missing,
        unexpected and mis-shaped keys (with both shapes), names both class counts when
        only the classifier differs, and names the zoo model the keys belong to.

    Example
    -------
    >>> from graphkd.models import create_model, load_checkpoint
    >>> teacher = create_model("resnet8")
    >>> saved = {"model": create_model("resnet8").state_dict()}
    >>> result = load_checkpoint(teacher, saved)
    >>> result.missing_keys, result.unexpected_keys
    ([], [])
    """
    target = _target(model)
    state = _select(_read(path_or_dict, map_location), key)
    state = _strip_wrappers(state, target.state_dict())
    _check(target, state, strict)
    return target.load_state_dict(state, strict=strict)
