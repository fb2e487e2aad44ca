"""Per-epoch metrics as a CSV file that survives resumes."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Dict, List, Union


class MetricsLog:
    """Append one row per epoch to a CSV file (``epoch`` first, header from the first row).

    On resume, :meth:`truncate` drops the rows of epochs after the checkpoint, so an
    epoch that was logged but not checkpointed before a crash is not logged twice.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file, e.g. ``runs/x/metrics.csv``.

    Example
    -------
    >>> import tempfile, os
    >>> log = MetricsLog(os.path.join(tempfile.mkdtemp(), "metrics.csv"))
    >>> log.append({"epoch": 1, "test_acc": 50.0})
    >>> log.append({"epoch": 2, "test_acc": 60.0})
    >>> log.truncate(1)
    >>> [row["test_acc"] for row in log.rows()]
    ['50.0']
    """

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        self.path = Path(path)

    def rows(self) -> List[Dict[str, str]]:
        """The logged rows, as strings."""
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as handle:
            return list(csv.DictReader(handle))

    def append(self, row: Dict[str, object]) -> None:
        """Add one row; a new column (a term seen for the first time) rewrites the header."""
        rows = self.rows()
        columns = list(rows[0].keys()) if rows else []
        columns += [key for key in row if key not in columns]
        if rows and columns == list(rows[0].keys()):
            with open(self.path, "a", newline="") as handle:
                csv.DictWriter(handle, columns).writerow(row)
            return
        self._write(columns, [*rows, row])

    def truncate(self, epoch: int) -> None:
        """Keep only the rows of epochs ``<= epoch``."""
        rows = self.rows()
        if rows:
            kept = [r for r in rows if int(r["epoch"]) <= epoch]
            self._write(list(rows[0].keys()), kept)

    def _write(self, columns: List[str], rows: List[Dict[str, object]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".csv.tmp")
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, self.path)
