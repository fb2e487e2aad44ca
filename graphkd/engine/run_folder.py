"""A run directory's records, and the rule that a new run never overwrites them unasked.

A run directory holds ``config.yaml``, ``metrics*.csv``, ``last.pt``, ``previous.pt``,
``model.pt``, ``curves.png`` and (with ``run.tensorboard``) ``tensorboard/``. A run
into a directory that already holds any of them must say what to do with them:
``resume`` (continue the run) or ``overwrite`` (start again; the old records are
removed only when the new run has finished its first epoch, so a run that fails
before that leaves them as they were).

Example
-------
>>> import tempfile, pathlib
>>> run = pathlib.Path(tempfile.mkdtemp())
>>> check_run_folder(run, resume=False, overwrite=False)  # empty: fine
>>> (run / "metrics.csv").write_text("epoch\\n1\\n")
8
>>> check_run_folder(run, resume=False, overwrite=False)  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
ValueError: run directory ... already holds a run (metrics.csv); ...
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

#: The files and folders a run writes into its directory.
RUN_RECORDS = (
    "config.yaml",
    "metrics*.csv",
    "last.pt",
    "previous.pt",
    "model.pt",
    "curves.png",
    "tensorboard",
)


def run_records(output: Path) -> List[Path]:
    """The records of an earlier run in ``output`` (none when it does not exist)."""
    if not output.is_dir():
        return []
    return sorted(path for pattern in RUN_RECORDS for path in output.glob(pattern))


def check_run_folder(output: Path, resume: object, overwrite: bool) -> None:
    """Refuse to start a new run over an earlier run's records.

    Raises
    ------
    ValueError
        ``output`` holds records, and neither ``resume`` nor ``overwrite`` is set; the
        message names the records and both ways on.
    """
    if resume and overwrite:
        raise ValueError(
            "resume continues a run and overwrite replaces it; give one of them, not both"
        )
    records = run_records(output)
    if records and not resume and not overwrite:
        names = ", ".join(path.name for path in records)
        raise ValueError(
            f"run directory {output} already holds a run ({names}); continue it with "
            "resume=True (CLI: --resume), start it again with overwrite=True (CLI: "
            "--overwrite), or choose another run.output"
        )


def remove_run_records(output: Path) -> None:
    """Delete an earlier run's records from ``output`` (for an overwriting run)."""
    for path in run_records(output):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
