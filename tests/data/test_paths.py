"""The default data directory."""

from __future__ import annotations

from pathlib import Path

from graphkd.data import default_data_dir
from graphkd.data.paths import resolve_root


def test_environment_variable(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GRAPHKD_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    assert resolve_root(None) == tmp_path


def test_home_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GRAPHKD_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".cache" / "graphkd" / "data"


def test_explicit_root_wins(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GRAPHKD_DATA_DIR", "/elsewhere")
    assert resolve_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_root("~/data") == Path(tmp_path) / "data"
