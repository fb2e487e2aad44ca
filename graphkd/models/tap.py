"""Read logits, the pooled embedding and named intermediate features from any network."""

from __future__ import annotations

import difflib
from typing import Any, Dict, List, Optional, Sequence, Tuple

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ..responses import Responses
from .known_taps import known_tap_points
from .tap_points import TapPoints

_EMBEDDING = "embedding"


class _Store:
    """Scratch space the hooks write to during one forward pass; empty between passes."""

    def __init__(self) -> None:
        self.recording = False
        self.values: Dict[str, Any] = {}
        self.calls: Dict[str, int] = {}

    def record(self, slot: str, value: Any) -> None:
        if self.recording:
            self.calls[slot] = self.calls.get(slot, 0) + 1
            self.values[slot] = value

    def start(self) -> None:
        self.values, self.calls, self.recording = {}, {}, True

    def stop(self) -> Tuple[Dict[str, Any], Dict[str, int]]:
        captured = (self.values, self.calls)
        self.values, self.calls, self.recording = {}, {}, False
        return captured


class _OutputHook:
    """Forward hook recording a module's output into a store slot (picklable)."""

    def __init__(self, store: _Store, slot: str) -> None:
        self.store = store
        self.slot = slot

    def __call__(self, module: nn.Module, args: Tuple[Any, ...], output: Any) -> None:
        self.store.record(self.slot, output)


class _InputHook:
    """Forward pre-hook recording a module's first positional input (picklable)."""

    def __init__(self, store: _Store, slot: str) -> None:
        self.store = store
        self.slot = slot

    def __call__(self, module: nn.Module, args: Tuple[Any, ...]) -> None:
        self.store.record(self.slot, args[0] if args else None)


class _LastInputHook(_InputHook):
    """Forward pre-hook recording a copy of a module's first positional input at every
    call (the last call's stays), taken before an in-place module overwrites it."""

    def __call__(self, module: nn.Module, args: Tuple[Any, ...]) -> None:
        if not self.store.recording:  # no copy outside a tapped forward pass
            return
        value = args[0] if args else None
        self.store.record(self.slot, value.clone() if isinstance(value, Tensor) else value)


def _unwrap(model: nn.Module) -> Tuple[nn.Module, str]:
    """The network inside ``DataParallel``/``DistributedDataParallel``/``torch.compile``
    wrappers, and the prefix its module names carry in the wrapper (``"module."`` per
    parallel wrapper, ``"_orig_mod."`` per compile wrapper)."""
    prefix = ""
    while True:
        compiled = getattr(model, "_orig_mod", None)
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model, prefix = model.module, prefix + "module."
        elif isinstance(compiled, nn.Module):
            model, prefix = compiled, prefix + "_orig_mod."
        else:
            return model, prefix


def _declared_taps(model: nn.Module) -> Optional[TapPoints]:
    """``model.default_taps()`` when the model declares it, else the tap points graphkd
    knows for its family (torchvision ResNets and MobileNetV2, timm), else ``None``."""
    declare = getattr(model, "default_taps", None)
    if not callable(declare):
        return known_tap_points(model)
    taps = declare()
    if not isinstance(taps, TapPoints):
        raise ValueError(
            f"{type(model).__name__}.default_taps() returned {type(taps).__name__}; it must "
            "return graphkd.models.TapPoints"
        )
    return taps


def _last_linear(model: nn.Module) -> str:
    """Name of the last ``nn.Linear`` in ``model.named_modules()`` order."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(
            f"{type(model).__name__} has no nn.Linear to read the embedding from; pass "
            "embedding='<name of the pooling module>'"
        )
    return names[-1]


def _unknown_name(model: nn.Module, name: str, modules: Dict[str, nn.Module]) -> ValueError:
    close = difflib.get_close_matches(name, list(modules), n=6, cutoff=0.5)
    if close:
        hint = "close names: " + ", ".join(repr(c) for c in close)
    else:
        top = [n for n in modules if n and "." not in n]
        hint = "top-level modules: " + ", ".join(repr(c) for c in top[:20])
    return ValueError(
        f"{type(model).__name__} has no module named {name!r}; {hint}. Names are those of "
        "model.named_modules(), e.g. 'layer1' or 'layer1.0.conv1'"
    )


class TappedModel(nn.Module):
    """A network whose forward returns :class:`~graphkd.responses.Responses`.

    Build it with :func:`tap`. Forward hooks on the named modules record their outputs
    during :meth:`forward` only; the recorded tensors go into the returned
    :class:`~graphkd.responses.Responses` and nothing is kept afterwards. The wrapped
    network stays a submodule (``.to()``, ``.train()``, ``.parameters()`` reach it; save
    ``tapped.model.state_dict()`` for checkpoints in the zoo layout). The wrapper
    survives ``copy.deepcopy`` and pickling, hooks included; :meth:`remove` (or leaving a
    ``with`` block) takes the hooks off the network.

    Parameters
    ----------
    model : nn.Module
        The network; ``model(x)`` must return logits ``(B, C)``.
    embedding : str
        Module whose output (or input, see ``embedding_from``), flattened, is the
        embedding ``(B, D)``.
    embedding_from : {"output", "input"}
        Which side of ``embedding`` to read.
    features : sequence of str
        Modules whose outputs go into ``Responses.features`` under their names.
    features_from : {"output", "last_input"}
        Read each feature module's output (it must run once per pass), or a copy of the
        input of its last call (for a ReLU a block calls several times, the last on the
        block's pre-activation output).

    Example
    -------
    >>> import torch
    >>> from graphkd.models import create_model, tap
    >>> tapped = tap(create_model("resnet8")).eval()
    >>> r = tapped(torch.randn(2, 3, 32, 32))
    >>> r.logits.shape, r.embedding.shape, sorted(r.features)
    (torch.Size([2, 100]), torch.Size([2, 64]), ['layer1', 'layer2', 'layer3'])
    """

    def __init__(
        self,
        model: nn.Module,
        embedding: str,
        embedding_from: str = "output",
        features: Sequence[str] = (),
        features_from: str = "output",
    ) -> None:
        super().__init__()
        if embedding_from not in ("output", "input"):
            raise ValueError(f"embedding_from must be 'output' or 'input', got {embedding_from!r}")
        if features_from not in ("output", "last_input"):
            raise ValueError(
                f"features_from must be 'output' or 'last_input', got {features_from!r}"
            )
        if isinstance(features, str):
            raise ValueError(
                f"features must be a list of module names, got the string {features!r}; "
                f"write features=[{features!r}]"
            )
        features = tuple(features)
        repeated = sorted({n for n in features if features.count(n) > 1})
        if repeated:
            raise ValueError(f"features lists {repeated} more than once; name each module once")
        modules = dict(model.named_modules())
        modules.pop("", None)
        for name in (embedding, *features):
            if name not in modules:
                raise _unknown_name(model, name, modules)
        self.model = model
        self.embedding = embedding
        self.embedding_from = embedding_from
        self.features = features
        self.features_from = features_from
        self._store = _Store()
        self._handles: List[RemovableHandle] = []
        target = modules[embedding]
        if embedding_from == "input":
            hook = target.register_forward_pre_hook(_InputHook(self._store, _EMBEDDING))
        else:
            hook = target.register_forward_hook(_OutputHook(self._store, _EMBEDDING))
        self._handles.append(hook)
        for name in features:
            if features_from == "last_input":
                hook = modules[name].register_forward_pre_hook(
                    _LastInputHook(self._store, "f:" + name)
                )
            else:
                hook = modules[name].register_forward_hook(_OutputHook(self._store, "f:" + name))
            self._handles.append(hook)

    @property
    def active(self) -> bool:
        """Whether the hooks are still registered (``False`` after :meth:`remove`)."""
        return bool(self._handles)

    def remove(self) -> None:
        """Take every hook off the wrapped network; the wrapper cannot run afterwards."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> TappedModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def extra_repr(self) -> str:
        return (
            f"embedding={self.embedding!r} ({self.embedding_from}), "
            f"features={list(self.features)}"
            + ("" if self.features_from == "output" else f" ({self.features_from})")
            + f", active={self.active}"
        )

    def forward(self, *args: Any, **kwargs: Any) -> Responses:
        """Run the network; return its logits, embedding and tapped features.

        Parameters
        ----------
        *args, **kwargs
            The network's inputs, e.g. images ``(B, C_in, H, W)``.

        Returns
        -------
        Responses
            ``logits`` ``(B, C)``, ``embedding`` ``(B, D)``, ``features`` ``{name: (B, ...)}``.
        """
        if not self._handles:
            raise ValueError(
                "this TappedModel's hooks were removed; call graphkd.models.tap(model) again"
            )
        self._store.start()
        try:
            logits = self.model(*args, **kwargs)
        finally:
            values, calls = self._store.stop()
        if not isinstance(logits, Tensor):
            raise ValueError(
                f"{type(self.model).__name__} returned {type(logits).__name__}; tap() needs a "
                "network whose forward returns the logits tensor (B, C)"
            )
        slots = {_EMBEDDING: self.embedding, **{"f:" + n: n for n in self.features}}
        for slot, name in slots.items():
            count = calls.get(slot, 0)
            if count != 1 and not (
                count > 1 and slot != _EMBEDDING and self.features_from == "last_input"
            ):
                raise ValueError(
                    f"module {name!r} ran {count} times in one forward pass; tap a "
                    "module that runs exactly once (modules reused inside blocks, such as a "
                    "shared ReLU, cannot be tapped: name the block instead)"
                )
            if not isinstance(values[slot], Tensor):
                side = self.embedding_from if slot == _EMBEDDING else self.features_from
                raise ValueError(
                    f"the {side} of module {name!r} is a {type(values[slot]).__name__}, not a "
                    "tensor; tap a submodule that produces one tensor"
                )
        return Responses(
            logits=logits,
            embedding=values[_EMBEDDING].flatten(1),
            features={name: values["f:" + name] for name in self.features},
        )


def tap(
    model: nn.Module,
    embedding: Optional[str] = None,
    features: Optional[Sequence[str]] = None,
    *,
    preact: bool = False,
) -> TappedModel:
    """Wrap ``model`` so that its forward returns :class:`~graphkd.responses.Responses`.

    Parameters
    ----------
    model : nn.Module
        Any network whose ``forward(x)`` returns logits ``(B, C)``: a zoo model, a
        torchvision model, or a ``DataParallel``/``DistributedDataParallel``/
        ``torch.compile`` wrapper of one (default names then resolve inside the wrapper;
        explicit names are those of ``model.named_modules()``).
    embedding : str, optional
        Module whose output, flattened, is ``Responses.embedding``. Default: the model's
        ``default_taps().embedding`` (the pooling before the classifier) when it declares
        taps (every zoo model does), else the *input* of its last ``nn.Linear``.
    features : sequence of str, optional
        Modules whose outputs fill ``Responses.features`` (keyed by these names).
        Default: ``default_taps().features`` (each stage's output after its final
        activation) for models declaring taps or of a known family (see
        :func:`~graphkd.models.known_tap_points`: torchvision ResNets/ResNeXts/wide
        ResNets and MobileNetV2, any timm model), else none.
    preact : bool, default False
        With ``features=None``, tap ``default_taps().preact_features`` (the same stage
        outputs before the final activation, read as ``default_taps().preact_from``
        says) instead: every zoo model and torchvision's ResNets declare them.

    Returns
    -------
    TappedModel
        ``tapped(x)`` gives ``Responses(logits, embedding, features)``.

    Raises
    ------
    ValueError
        For a name that is not a module of ``model`` (the message lists close names).

    Notes
    -----
    A tapped module must run exactly once per forward pass, and its output must not be
    modified in place by the network afterwards (e.g. a batch norm followed by
    ``ReLU(inplace=True)``): tap the enclosing block instead.

    Example
    -------
    >>> import torch, torchvision
    >>> net = torchvision.models.resnet18(num_classes=10).eval()
    >>> with tap(net, features=["layer3", "layer4"]) as tapped:
    ...     r = tapped(torch.randn(2, 3, 32, 32))
    >>> r.embedding.shape, r.features["layer4"].shape
    (torch.Size([2, 512]), torch.Size([2, 512, 1, 1]))
    """
    if isinstance(model, TappedModel):
        raise ValueError(
            "the model is already tapped; tap the network inside it instead: "
            "tap(tapped.model, ...) (and tapped.remove() the old hooks)"
        )
    inner, prefix = _unwrap(model)
    taps = _declared_taps(inner)
    features_from = "output"
    if features is None:
        if taps is None:
            if preact:
                raise ValueError(
                    f"{type(inner).__name__} declares no default_taps(), so preact=True has "
                    "no features to select; pass features=[...] module names"
                )
            features = ()
        else:
            if preact and not taps.preact_features:
                raise ValueError(
                    f"{type(inner).__name__} has no modules for its pre-activation stage "
                    "outputs; tap the activated ones (preact=False)"
                )
            features = taps.preact_features if preact else taps.features
            features = tuple(prefix + name for name in features)
            features_from = taps.preact_from if preact else "output"
    elif preact:
        raise ValueError(
            "preact=True selects the default pre-activation taps; leave features=None "
            "or drop preact"
        )
    if embedding is not None:
        return TappedModel(model, embedding, "output", features, features_from)
    if taps is not None:
        return TappedModel(
            model, prefix + taps.embedding, taps.embedding_from, features, features_from
        )
    return TappedModel(model, prefix + _last_linear(inner), "input", features)
