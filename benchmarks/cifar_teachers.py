"""The community's pretrained CIFAR-100 teachers: fetch, verify and convert them once.

The teachers of the CIFAR-100 distillation literature (resnet56, resnet110, resnet32x4,
ResNet50, wrn_40_2, vgg13, each trained for 240 epochs) are released as one archive,
``cifar_teachers.tar`` (:data:`ARCHIVE_URL`), holding
``cifar_teachers/<arch>_vanilla/ckpt_epoch_240.pth`` with ``{"model": state_dict, ...}``;
graphkd's zoo reproduces those state dicts, so they load with ``strict=True``.

:func:`prepare_teacher` takes the archive from, in order: a file or folder the user
names (``source``), the cache (``<cache>/cifar_teachers.tar``), or a download of
:data:`ARCHIVE_URL` into the cache. The archive's SHA-256 is checked against
:data:`ARCHIVE_SHA256`, the one place where the expected value is pinned. The releasers
publish no checksum, so it is ``None`` in this release: then the digest of the first
archive used is recorded beside it in the cache (``cifar_teachers.tar.sha256``) and
every later use is checked against that record, and a value given by the caller
(``expected_sha256``) is checked in any case. Each teacher is then read (tensors and
plain containers only, plus the argparse and numpy objects the release stores beside
the weights) and saved as ``<cache>/<arch>.pt`` = ``{"format": "graphkd", "model":
state_dict, "arch", "dataset", "source", "archive_sha256"}``, which
:func:`graphkd.models.load_checkpoint` reads.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

ARCHIVE_URL = (
    "https://github.com/megvii-research/mdistiller/releases/download/checkpoints/cifar_teachers.tar"
)
ARCHIVE_NAME = "cifar_teachers.tar"
#: SHA-256 of ``cifar_teachers.tar``; ``None``: not published by the releasers (see module).
ARCHIVE_SHA256: Optional[str] = None
#: Teacher architecture -> its file in the archive.
MEMBERS: Dict[str, str] = {
    arch: f"cifar_teachers/{arch}_vanilla/ckpt_epoch_240.pth"
    for arch in ("resnet56", "resnet110", "resnet32x4", "ResNet50", "wrn_40_2", "vgg13")
}
#: Where the teachers are kept by default.
DEFAULT_CACHE = Path(os.environ.get("GRAPHKD_CACHE", Path.home() / ".cache" / "graphkd"))


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def missing_message(cache: Path, reason: str) -> str:
    """What to download and where to put it, when the archive cannot be fetched."""
    return (
        f"the CIFAR-100 teachers are not available ({reason}). Download {ARCHIVE_URL} "
        f"and put it at {cache / ARCHIVE_NAME} (or pass its path, or a folder holding "
        f"cifar_teachers/<arch>_vanilla/ckpt_epoch_240.pth, with --teachers)"
    )


def download(url: str, target: Path) -> None:
    """Fetch ``url`` to ``target`` through a ``.part`` file (nothing half-written stays)."""
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        reason = f"download failed: {error}"
        raise FileNotFoundError(missing_message(target.parent, reason)) from None
    os.replace(partial, target)


def verify(archive: Path, expected: Optional[str] = None) -> str:
    """Check ``archive`` against the pinned digest, ``expected`` and the digest recorded at
    first use; record it when nothing is pinned yet. Returns the digest."""
    digest = sha256(archive)
    record = archive.with_name(archive.name + ".sha256")
    wanted = {
        "the pinned ARCHIVE_SHA256": ARCHIVE_SHA256,
        "the given --sha256": expected,
        f"the digest recorded at first use ({record})": (
            record.read_text().split()[0] if record.is_file() else None
        ),
    }
    for source, value in wanted.items():
        if value is not None and value.lower() != digest:
            raise ValueError(
                f"{archive} has SHA-256 {digest}, not {value} ({source}); the file is damaged "
                f"or not the released archive: delete it and download {ARCHIVE_URL} again"
            )
    if ARCHIVE_SHA256 is None and not record.is_file():
        record.write_text(f"{digest}  {ARCHIVE_NAME}\n")
        print(
            f"! no SHA-256 of {ARCHIVE_NAME} is published; recorded {digest} in {record} and "
            "will check later uses against it",
            flush=True,
        )
    return digest


def _read_release_checkpoint(raw: bytes) -> Dict[str, torch.Tensor]:
    """The ``"model"`` state dict of a released checkpoint, read with ``weights_only``."""
    scalar = np.float64(0).__reduce__()[0]  # numpy's scalar constructor, pickled by name
    allowed = [argparse.Namespace, scalar, np.dtype, type(np.dtype("float64"))]
    if not hasattr(torch.serialization, "safe_globals"):
        raise RuntimeError(
            f"reading the released checkpoints safely (weights_only with their numpy and "
            f"argparse entries allowed) needs torch >= 2.4, found {torch.__version__}; "
            "upgrade torch to run the reproduction suite"
        )
    with torch.serialization.safe_globals(allowed):
        checkpoint = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError("a released teacher checkpoint holds no 'model' state dict")
    return state


def _member_bytes(source: Path, member: str) -> bytes:
    """The bytes of archive member ``member`` from a tar file or an unpacked folder."""
    if source.is_dir():
        for candidate in (source / member, source / member.split("/", 1)[1]):
            if candidate.is_file():
                return candidate.read_bytes()
        raise FileNotFoundError(f"{source} holds neither {member} nor its path below it")
    with tarfile.open(source) as archive:
        try:
            entry = archive.getmember(member)
        except KeyError:
            raise FileNotFoundError(f"{source} holds no {member}") from None
        handle = archive.extractfile(entry) if entry.isfile() else None
        if handle is None:
            raise ValueError(f"{member} in {source} is not a regular file")
        return handle.read()


def locate_archive(
    cache: Path, source: Optional[Path] = None, url: Optional[str] = ARCHIVE_URL
) -> Path:
    """The archive or folder to read: ``source``, the cached archive, or a download into
    the cache (``url=None``: never download)."""
    if source is not None:
        if not source.exists():
            raise FileNotFoundError(f"--teachers {source} does not exist")
        return source
    archive = cache / ARCHIVE_NAME
    if not archive.is_file():
        if url is None:
            raise FileNotFoundError(missing_message(cache, "not in the cache"))
        print(f"downloading {url} -> {archive}", flush=True)
        download(url, archive)
    return archive


def prepare_teacher(
    arch: str,
    cache: Path = DEFAULT_CACHE,
    source: Optional[Path] = None,
    expected_sha256: Optional[str] = None,
    url: Optional[str] = ARCHIVE_URL,
) -> Path:
    """``<cache>/<arch>.pt``, the converted community teacher ``arch`` (made once).

    Parameters
    ----------
    arch : str
        A key of :data:`MEMBERS`.
    cache : pathlib.Path
        Where the archive and the converted teachers are kept.
    source : pathlib.Path, optional
        A local ``cifar_teachers.tar`` or a folder with its contents, used instead of the
        cache and the download.
    expected_sha256 : str, optional
        Required SHA-256 of the archive.
    url : str or None
        Where to download the archive from when it is not cached; ``None``: never.
    """
    if arch not in MEMBERS:
        raise ValueError(
            f"no community CIFAR-100 teacher {arch!r}; released: {', '.join(MEMBERS)}; train "
            "it with `graphkd train-teacher` and set model.teacher_checkpoint"
        )
    target = cache / f"{arch}.pt"
    if target.is_file():
        return target
    located = locate_archive(cache, source, url)
    digest = None if located.is_dir() else verify(located, expected_sha256)
    state = _read_release_checkpoint(_member_bytes(located, MEMBERS[arch]))
    cache.mkdir(parents=True, exist_ok=True)
    converted = {
        "format": "graphkd",
        "model": state,
        "arch": arch,
        "dataset": "cifar100",
        "source": f"{located}:{MEMBERS[arch]}",
        "archive_sha256": digest,
    }
    temporary = target.with_name(f".{target.name}.tmp")
    torch.save(converted, temporary)
    os.replace(temporary, target)
    return target
