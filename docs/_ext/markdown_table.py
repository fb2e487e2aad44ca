"""The ``markdown-table`` directive: a results file of text lines and pipe tables, rendered.

The benchmark scripts write Markdown (``benchmarks/results/*.md``): lines of text and
GitHub pipe tables. The directive turns every table into a docutils table (class
``results-table``, styled in ``_static/graphkd.css``) and every other non-empty line
into a paragraph, so the site shows tables, not pipes. The path is relative to the
including document, as for ``literalinclude``::

    .. markdown-table:: ../benchmarks/results/presets.md

With ``:rows: name ...`` only the tables are shown, each with its header and the rows
whose first cell is one of the names (a method page's row of a protocol table).
"""

from __future__ import annotations

from typing import List

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def split_row(line: str) -> List[str]:
    """The cells of one pipe-table line, stripped: ``"| a | b |"`` -> ``["a", "b"]``."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def is_separator(line: str) -> bool:
    """Whether ``line`` is a table's header rule such as ``| --- | :---: |``."""
    cells = split_row(line)
    return bool(cells) and all(cell and set(cell) <= set("-: ") for cell in cells)


def parse_markdown(text: str) -> List[object]:
    """Blocks of ``text``: a ``str`` per text line, a ``list`` of rows per pipe table.

    A table's first row is its header; the separator line after it is dropped. Every
    row of a table must have the header's number of cells.
    """
    blocks: List[object] = []
    table: List[List[str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("|"):
            if len(table) == 1 and is_separator(line):
                continue
            row = split_row(line)
            if table and len(row) != len(table[0]):
                raise ValueError(
                    f"line {number}: a table row with {len(row)} cells under a header of "
                    f"{len(table[0])}"
                )
            table.append(row)
            continue
        if table:
            blocks.append(table)
            table = []
        if line.strip():
            blocks.append(line.strip())
    if table:
        blocks.append(table)
    return blocks


def select_rows(blocks: List[object], names: List[str]) -> List[object]:
    """The tables of ``blocks``, each cut to its header and the rows whose first cell is
    in ``names`` (tables left with no such row are dropped); text lines are dropped."""
    kept: List[object] = []
    for block in blocks:
        if isinstance(block, list):
            rows = [row for row in block[1:] if row[0] in names]
            if rows:
                kept.append([block[0], *rows])
    return kept


def table_node(rows: List[List[str]]) -> nodes.table:
    """A docutils table of ``rows`` (the first is the header)."""
    table = nodes.table(classes=["results-table"])
    group = nodes.tgroup(cols=len(rows[0]))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in rows[0])

    def row_node(cells: List[str]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", nodes.paragraph(text=cell))
        return row

    head = nodes.thead()
    head += row_node(rows[0])
    body = nodes.tbody()
    body.extend(row_node(cells) for cells in rows[1:])
    group += head
    group += body
    return table


class MarkdownTable(SphinxDirective):
    """Render a Markdown results file (text lines and pipe tables)."""

    required_arguments = 1
    has_content = False
    option_spec = {"rows": str}

    def run(self) -> List[nodes.Node]:
        relative, path = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(relative)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        try:
            blocks = parse_markdown(text)
        except ValueError as error:
            raise self.error(f"{self.arguments[0]}: {error}") from None
        if "rows" in self.options:
            names = self.options["rows"].split()
            blocks = select_rows(blocks, names)
            if not blocks:
                raise self.error(f"{self.arguments[0]}: no table row named any of {names}")
        out: List[nodes.Node] = []
        for block in blocks:
            if isinstance(block, str):
                out.append(nodes.paragraph(text=block))
            else:
                out.append(table_node(block))  # type: ignore[arg-type]
        return out


def setup(app):  # type: ignore[no-untyped-def]
    app.add_directive("markdown-table", MarkdownTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
