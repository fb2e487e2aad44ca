"""Every docstring example of the package runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import graphkd

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(graphkd.__path__, "graphkd.")
    if m.name != "graphkd.__main__"
)


def test_the_package_has_examples_to_run():
    assert len(MODULES) > 50


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(module), optionflags=flags, report=True)
    assert result.failed == 0
