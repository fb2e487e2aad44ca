"""Training checkpoints written atomically, with the previous one kept as a fallback.

:func:`save_training_checkpoint` writes to a temporary file in the run directory, then
renames: the old ``last.pt`` becomes ``previous.pt`` and the new file ``last.pt``
(``os.replace`` is atomic), so a crash at any moment leaves at least one complete
checkpoint. Checkpoints hold tensors and plain containers only and are read with
``torch.load(weights_only=True)``; ``checkpoint["model"]`` is the network's state dict,
so :func:`graphkd.models.load_checkpoint` reads them directly.

Example
-------
>>> import tempfile, torch
>>> run = tempfile.mkdtemp()
>>> path = save_training_checkpoint({"epoch": 1, "model": {"w": torch.ones(2)}}, run)
>>> read_training_checkpoint(path)["epoch"]
1
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict, Mapping, Union

import numpy as np
import torch

LAST = "last.pt"
PREVIOUS = "previous.pt"


def save_training_checkpoint(
    state: Mapping[str, Any], directory: Union[str, os.PathLike[str]]
) -> Path:
    """Write ``state`` to ``directory/last.pt`` atomically; keep the old one as ``previous.pt``.

    Returns
    -------
    pathlib.Path
        The path of ``last.pt``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    last, previous = directory / LAST, directory / PREVIOUS
    temporary = directory / f".{LAST}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        torch.save(dict(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    if last.exists():
        os.replace(last, previous)
    os.replace(temporary, last)
    return last


def read_training_checkpoint(path: Union[str, os.PathLike[str]]) -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_training_checkpoint`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is truncated or corrupt (the message names the fallback
        ``previous.pt`` when there is one, and how to resume from it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train without resume first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged archives
        fallback = path.with_name(PREVIOUS)
        hint = (
            f"the previous good checkpoint {fallback} is untouched: resume from it with "
            f"resume='{fallback}' (CLI: --resume {fallback})"
            if fallback.is_file() and fallback != path
            else "no previous checkpoint exists; restart the run without resume"
        )
        raise ValueError(
            f"checkpoint {path} is corrupt or truncated ({type(error).__name__}: {error}); " + hint
        ) from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise ValueError(
            f"{path} is not a graphkd training checkpoint (no 'epoch' entry); resume only "
            "from the last.pt or previous.pt of a graphkd run"
        )
    return state


def rng_state() -> Dict[str, Any]:
    """The states of python's, numpy's and torch's generators, as plain values and tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore generator states captured by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def saved_options(saved: Dict[str, Any]) -> Dict[str, Any]:
    """The network options a loaded ``model.pt`` or ``last.pt`` dict records."""
    if isinstance(saved.get("options"), dict):
        return saved["options"]
    model = (saved.get("config") or {}).get("model", {})
    arch = saved.get("arch") or model.get("student")
    options = model.get("network_options", {}).get(arch, {})
    return options if isinstance(options, dict) else {}
