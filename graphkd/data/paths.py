"""Where datasets live when no ``root`` is given.

The directory is ``$GRAPHKD_DATA_DIR`` when that variable is set, otherwise
``~/.cache/graphkd/data``.

Example
-------
>>> import os
>>> os.environ["GRAPHKD_DATA_DIR"] = "/tmp/graphkd-data"
>>> str(default_data_dir())
'/tmp/graphkd-data'
>>> str(resolve_root("/srv/data"))
'/srv/data'
>>> del os.environ["GRAPHKD_DATA_DIR"]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

#: Environment variable naming the default data directory.
DATA_DIR_VARIABLE = "GRAPHKD_DATA_DIR"

#: How the datasets' errors tell a Python caller to download; the trainer says it in
#: config and command-line terms instead (``data.download=true``).
DOWNLOAD_FIX = "pass download=True"


def default_data_dir() -> Path:
    """The default data directory: ``$GRAPHKD_DATA_DIR`` or ``~/.cache/graphkd/data``."""
    configured = os.environ.get(DATA_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "graphkd" / "data"


def resolve_root(root: Optional[Union[str, os.PathLike[str]]]) -> Path:
    """``root`` as a :class:`~pathlib.Path` (``~`` expanded), or :func:`default_data_dir`."""
    if root is None:
        return default_data_dir()
    return Path(root).expanduser()
