"""The documentation renders offline and shows result tables as tables.

``make docs`` builds the site and runs ``docs/check_site.py`` on it; these tests check
that checker and the ``markdown-table`` directive on small inputs, and that the sources
use them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_site = _load(DOCS / "check_site.py")
markdown_table = _load(DOCS / "_ext" / "markdown_table.py")


def test_markdown_tables_become_rows_and_text_stays_text():
    text = "Device: cpu.\n\n| a | b |\n| --- | ---: |\n| 1 | 2.5 |\n| x | y |\nafter\n"
    assert markdown_table.parse_markdown(text) == [
        "Device: cpu.",
        [["a", "b"], ["1", "2.5"], ["x", "y"]],
        "after",
    ]
    table = markdown_table.table_node([["a", "b"], ["1", "2"]])
    assert "results-table" in table["classes"]
    assert [entry.astext() for entry in table.findall(lambda n: n.tagname == "entry")] == [
        "a",
        "b",
        "1",
        "2",
    ]


def test_rows_keeps_each_tables_header_and_the_named_rows_only():
    blocks = markdown_table.parse_markdown(
        "Command: x\n\n| row | v |\n| - | - |\n| ce | 1 |\n| kd | 2 |\n| dkd | 3 |\n"
        "\n| other | w |\n| - | - |\n| z | 9 |\n"
    )
    assert markdown_table.select_rows(blocks, ["ce", "dkd"]) == [
        [["row", "v"], ["ce", "1"], ["dkd", "3"]]
    ]


def test_a_ragged_markdown_row_is_reported_with_its_line():
    with pytest.raises(ValueError, match="line 3: a table row with 3 cells under a header of 2"):
        markdown_table.parse_markdown("| a | b |\n| - | - |\n| 1 | 2 | 3 |\n")


def test_every_results_file_in_the_docs_is_rendered_as_a_table():
    sources = "".join(path.read_text() for path in DOCS.glob("*.rst"))
    assert not re.search(r"literalinclude::\s*\S+\.md", sources)
    included = re.findall(r"markdown-table::\s*(\S+)", sources)
    assert included and all((DOCS / path).is_file() for path in included)


def _page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def test_offline_check_passes_a_site_with_local_mathjax(tmp_path):
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("//")
    script = '<script defer="defer" src="_static/mathjax/tex-chtml.js?v=1"></script>'
    (tmp_path / "index.html").write_text(
        _page('<span class="math">\\(x\\)</span><a href="https://pytorch.org">t</a>', script)
    )
    assert check_site.problems(tmp_path) == []
    assert check_site.main([str(tmp_path)]) == 0


def test_offline_check_reports_cdn_resources_and_math_without_local_mathjax(tmp_path):
    cdn = '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'
    (tmp_path / "index.html").write_text(_page('<div class="math">x</div>', cdn))
    (tmp_path / "style.css").write_text("@import url('//fonts.example.org/a.css');")
    found = check_site.problems(tmp_path)
    assert any("index.html: loads https://cdn.jsdelivr.net" in line for line in found)
    assert any(
        "index.html: shows formulas but loads no local tex-chtml.js" in line for line in found
    )
    assert any("style.css: loads //fonts.example.org/a.css" in line for line in found)
    assert check_site.main([str(tmp_path)]) == 1


def test_the_docs_build_ships_mathjax_and_checks_the_site():
    conf = (DOCS / "conf.py").read_text()
    assert re.search(r'^mathjax_path = "mathjax/tex-chtml\.js"$', conf, re.MULTILINE)
    makefile = (DOCS.parent / "Makefile").read_text()
    docs_target = makefile[makefile.index("\ndocs:") :].split("\n\n")[0]
    assert "docs-mathjax" in docs_target and "docs/check_site.py docs/_build/html" in docs_target
    assert re.search(r"npm install .*\$\(MATHJAX\)", makefile)


def test_site_check_reports_inherited_module_members_and_unparsed_sections(tmp_path):
    body = (
        '<dt id="graphkd.GraphMatchingDistiller.register_forward_hook">x</dt>'
        "<p><strong>(forward)</strong> (<em>Returns</em>)</p>"
    )
    row = '<td><p><code class="xref"><span class="pre">zero_grad</span></code>([set_to_none])'
    (tmp_path / "page.html").write_text(_page(body))
    (tmp_path / "row.html").write_text(_page(row))
    found = check_site.problems(tmp_path)
    assert "page.html: documents the inherited register_forward_hook" in found
    assert "row.html: documents the inherited zero_grad" in found
    assert "page.html: shows an unparsed docstring section '(forward) (Returns)'" in found


def test_api_pages_list_only_what_a_class_defines():
    template = (DOCS / "_templates" / "autosummary" / "class.rst").read_text()
    assert 'reject("in", inherited_members)' in template
    conf = (DOCS / "conf.py").read_text()
    assert '("Returns (forward)", "returns_style")' in conf


@pytest.mark.parametrize("example", sorted((DOCS / "examples").glob("plot_*.py")), ids=str)
def test_gallery_cells_do_not_end_in_a_value_the_page_would_print(example):
    """Sphinx-gallery shows the repr of a cell's last bare expression (a whole model for
    ``model.eval()``); a cell may end in a statement, ``print(...)`` or ``plt.show()``."""
    import ast

    source = example.read_text()
    cells = re.split(r"^# %%.*$", source, flags=re.MULTILINE)
    for number, cell in enumerate(cells):
        body = ast.parse(cell).body
        if not body or not isinstance(body[-1], ast.Expr):
            continue
        value = body[-1].value
        if isinstance(value, ast.Constant):  # the page's text (module docstring)
            continue
        called = value.func if isinstance(value, ast.Call) else None
        name = getattr(called, "attr", None) or getattr(called, "id", None)
        assert name in ("print", "show"), f"cell {number} ends in {ast.unparse(value)!r}"
