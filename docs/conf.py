"""Sphinx configuration for the graphkd documentation."""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_ext"))

import graphkd  # noqa: E402
from graphkd._dgl import dgl as _dgl  # noqa: E402

# load DGL through graphkd, which stands in for the graphbolt add-on where it cannot load
# (DGL is otherwise imported on first use), before the inventories below import it
_dgl.graph  # noqa: B018

project = "graphkd"
author = "graphkd developers"
copyright = "2026, graphkd developers"
release = graphkd.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "markdown_table",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
# a class documents its forward's result under "Returns (forward)", styled as Returns
napoleon_custom_sections = [("Returns (forward)", "returns_style")]
templates_path = ["_templates"]  # autosummary/class.rst: no members inherited from nn.Module
exclude_patterns = ["_build", "examples/README.rst", "auto_examples/*.ipynb"]
html_theme = "furo"
html_title = f"graphkd {release}"
html_static_path = ["_static"]
html_css_files = ["graphkd.css"]
suppress_warnings = ["config.cache"]

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "write_computation_times": False,  # its pages load scripts from CDNs
}

# Intersphinx: builds without network (CI) link through inventories written here from the
# installed packages' public names, with the URIs those projects' documentation uses; set
# GRAPHKD_DOCS_ONLINE_INVENTORIES=1 to fetch the published inventories instead.
INVENTORY_DIR = HERE / "_build" / "inventories"
INVENTORY_SOURCES = {
    "torch": (
        "https://pytorch.org/docs/stable/",
        ["torch", "torch.nn", "torch.nn.functional", "torch.utils.data", "torch.optim"],
        "generated/{name}.html#{name}",
    ),
    "dgl": (
        "https://docs.dgl.ai/",
        ["dgl", "dgl.nn", "dgl.ops", "dgl.function"],
        "generated/{name}.html#{name}",
    ),
}


def _write_inventory(package: str, base: str, modules: list, pattern: str) -> str:
    lines = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        for attribute in sorted(dir(module)):
            if attribute.startswith("_"):
                continue
            obj = getattr(module, attribute, None)
            role = "class" if inspect.isclass(obj) else "function" if callable(obj) else None
            if role is None:
                continue
            name = f"{module_name}.{attribute}"
            lines.append(f"{name} py:{role} 1 {pattern.format(name=name)} -")
    header = (
        f"# Sphinx inventory version 2\n# Project: {package}\n# Version: local\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    INVENTORY_DIR.mkdir(parents=True, exist_ok=True)
    path = INVENTORY_DIR / f"{package}.inv"
    path.write_bytes(header.encode() + zlib.compress("\n".join(lines).encode() + b"\n"))
    return str(path)


if os.environ.get("GRAPHKD_DOCS_ONLINE_INVENTORIES"):
    intersphinx_mapping = {k: (v[0], None) for k, v in INVENTORY_SOURCES.items()}
else:
    intersphinx_mapping = {
        package: (base, _write_inventory(package, base, modules, pattern))
        for package, (base, modules, pattern) in INVENTORY_SOURCES.items()
    }


# MathJax ships with the site, so formulas render without network: ``make docs`` installs
# the npm package ``mathjax`` (version in the Makefile) into _build/npm, and the parts the
# pages use (the TeX input with its extensions, the CommonHTML output with its fonts, the
# menu) are copied into the site's _static/mathjax. ``docs/check_site.py`` checks a
# built site.
MATHJAX_SOURCE = HERE / "_build" / "npm" / "node_modules" / "mathjax" / "es5"
MATHJAX_PARTS = ["tex-chtml.js", "input/tex", "output/chtml/fonts/woff-v2", "ui", "a11y"]
MATHJAX_STATIC = HERE / "_build" / "mathjax_static"


def _copy_mathjax() -> str:
    if not (MATHJAX_SOURCE / "tex-chtml.js").is_file():
        raise RuntimeError(
            f"MathJax is not installed at {MATHJAX_SOURCE}; build with `make docs`, or run "
            "`make docs-mathjax` first (it installs the npm package mathjax there)"
        )
    target = MATHJAX_STATIC / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    for part in MATHJAX_PARTS:
        source, destination = MATHJAX_SOURCE / part, target / part
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    return str(MATHJAX_STATIC)


html_static_path.append(_copy_mathjax())
mathjax_path = "mathjax/tex-chtml.js"
