"""Reading IDX files, the format of the MNIST family of datasets.

An IDX file is a header followed by a dense big-endian array:

* 4 magic bytes ``0x00 0x00 <type code> <number of dimensions>``;
* one big-endian ``uint32`` per dimension;
* ``prod(dims)`` values of the type named by the type code.

Files compressed with gzip are recognised by their first two bytes, whatever their name.
Every check (magic number, type code, dimensions, file length) raises an error that names
the file, says what is wrong and how to fix it.

Example
-------
>>> import struct, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
>>> _ = path.write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + bytes([7, 1, 4]))
>>> read_idx_labels(path)
tensor([7, 1, 4])
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch

PathLike = Union[str, "os.PathLike[str]"]

#: IDX type codes and the big-endian numpy dtype each one stores.
IDX_DTYPES: Dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_DEFAULT_FIX = "re-create or re-download the file"


def _read_bytes(path: Path, fix: str) -> bytes:
    """The (decompressed) content of ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist; to fix: {fix}")
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise ValueError(
            f"IDX file {str(path)!r} is a damaged gzip archive ({error}); to fix: {fix}"
        ) from None


def _parse_header(content: bytes, path: Path, fix: str) -> Tuple[np.dtype, Tuple[int, ...], int]:
    """The dtype, the shape and the header length of the IDX data in ``content``."""
    if len(content) < 4:
        raise ValueError(
            f"IDX file {str(path)!r} is truncated: {len(content)} bytes, shorter than the "
            f"4-byte magic number; to fix: {fix}"
        )
    zero_a, zero_b, code, ndim = content[0], content[1], content[2], content[3]
    if zero_a != 0 or zero_b != 0 or code not in IDX_DTYPES:
        raise ValueError(
            f"IDX file {str(path)!r} has a bad magic number 0x{content[:4].hex()}: expected "
            f"0x0000 followed by a type code in "
            f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)} and the number of dimensions; "
            f"it is not an IDX file or it is damaged; to fix: {fix}"
        )
    if ndim == 0:
        raise ValueError(
            f"IDX file {str(path)!r} declares 0 dimensions, at least 1 is needed; to fix: {fix}"
        )
    header_length = 4 + 4 * ndim
    if len(content) < header_length:
        raise ValueError(
            f"IDX file {str(path)!r} is truncated inside its header: {ndim} dimensions need "
            f"{header_length} header bytes, the file has {len(content)}; to fix: {fix}"
        )
    shape = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], shape, header_length


def read_idx(path: PathLike, *, fix: Optional[str] = None) -> torch.Tensor:
    """Read an IDX file (plain or gzip-compressed) into a tensor.

    Parameters
    ----------
    path : str or os.PathLike
        The file, e.g. ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz``.
    fix : str, optional
        What the user should do when the file is missing or damaged; it ends every error
        message. Defaults to "re-create or re-download the file".

    Returns
    -------
    torch.Tensor
        Shape as declared in the header. ``uint8``, ``int8``, ``int16``, ``int32``,
        ``float32`` or ``float64`` following the type code, in native byte order.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Bad magic number, damaged gzip stream, or a length that does not match the
        declared dimensions (truncated file or trailing bytes).

    Example
    -------
    >>> import struct, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x-idx2-ubyte"
    >>> _ = path.write_bytes(struct.pack(">BBBBII", 0, 0, 0x08, 2, 2, 3) + bytes(range(6)))
    >>> read_idx(path)
    tensor([[0, 1, 2],
            [3, 4, 5]], dtype=torch.uint8)
    """
    path = Path(path)
    fix = fix or _DEFAULT_FIX
    content = _read_bytes(path, fix)
    dtype, shape, header_length = _parse_header(content, path, fix)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(content) - header_length
    if found < expected:
        raise ValueError(
            f"IDX file {str(path)!r} is truncated: its header declares shape {shape} "
            f"({expected} data bytes) but only {found} data bytes follow; to fix: {fix}"
        )
    if found > expected:
        raise ValueError(
            f"IDX file {str(path)!r} has {found - expected} bytes after the {expected} data "
            f"bytes its header declares (shape {shape}); it is damaged; to fix: {fix}"
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_length).reshape(shape)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def read_idx_images(path: PathLike, *, fix: Optional[str] = None) -> torch.Tensor:
    """Read an ``idx3-ubyte`` image file: ``uint8`` tensor of shape ``(N, H, W)``.

    Parameters
    ----------
    path : str or os.PathLike
        The image file, plain or gzip-compressed.
    fix : str, optional
        What to do when the file is missing or damaged (see :func:`read_idx`).

    Raises
    ------
    ValueError
        The file is not a 3-dimensional unsigned-byte IDX file, or see :func:`read_idx`.

    Example
    -------
    >>> import struct, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "images-idx3-ubyte"
    >>> header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 2, 2, 2)
    >>> _ = path.write_bytes(header + bytes(8))
    >>> read_idx_images(path).shape
    torch.Size([2, 2, 2])
    """
    images = read_idx(path, fix=fix)
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise ValueError(
            f"IDX file {str(path)!r} holds a {images.dim()}-dimensional {images.dtype} array, "
            f"expected 3-dimensional unsigned bytes (N, H, W); pass an idx3-ubyte image file"
        )
    return images


def read_idx_labels(path: PathLike, *, fix: Optional[str] = None) -> torch.Tensor:
    """Read an ``idx1-ubyte`` label file: ``int64`` tensor of shape ``(N,)``.

    Parameters
    ----------
    path : str or os.PathLike
        The label file, plain or gzip-compressed.
    fix : str, optional
        What to do when the file is missing or damaged (see :func:`read_idx`).

    Raises
    ------
    ValueError
        The file is not a 1-dimensional unsigned-byte IDX file, or see :func:`read_idx`.

    Example
    -------
    >>> import struct, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = path.write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 2) + bytes([9, 0]))
    >>> read_idx_labels(path)
    tensor([9, 0])
    """
    labels = read_idx(path, fix=fix)
    if labels.dtype != torch.uint8 or labels.dim() != 1:
        raise ValueError(
            f"IDX file {str(path)!r} holds a {labels.dim()}-dimensional {labels.dtype} array, "
            f"expected 1-dimensional unsigned bytes (N,); pass an idx1-ubyte label file"
        )
    return labels.long()
