"""Check a built documentation site: it renders offline and its API pages are clean.

Every page must load its scripts, stylesheets and images from the site itself (no
``http(s)://`` or ``//`` address in a ``src``, in a ``<link href>`` or in a CSS
``url()``), and every page with a formula must load MathJax from a file of the site.
API pages must not list what a class inherits from ``torch.nn.Module`` (e.g.
``register_forward_hook``) nor show a docstring section napoleon could not parse (its
heading then reads like ``(forward) (Returns)``).

Usage: ``python docs/check_site.py docs/_build/html`` (``make docs`` runs it); prints
each problem and exits with 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import List

REMOTE = r"(?:https?:)?//"
RESOURCE = re.compile(
    r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(" + REMOTE + r"[^\"' >]+)"
    r"|<link\b[^>]*\bhref=[\"']?(" + REMOTE + r"[^\"' >]+)"
    r"|url\(\s*[\"']?(" + REMOTE + r"[^\"')]+)",
    re.IGNORECASE,
)
SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']?([^\"' >]+)", re.IGNORECASE)
MATHJAX_FILE = "tex-chtml.js"
INHERITED = re.compile(  # a method summary row or a documented method of nn.Module
    r'id="graphkd\.[\w.]+\.(register_forward_hook|named_buffers|zero_grad)"'
    r'|<span class="pre">(register_forward_hook|named_buffers|zero_grad)</span></code>\('
)
UNPARSED_SECTION = re.compile(r"\(\w+\)\s*\((?:Returns|Parameters|Yields|Raises)\)")


def problems(site: Path) -> List[str]:
    """Every problem of the site in ``site``, one line each (empty: none)."""
    found: List[str] = []
    pages = sorted(site.rglob("*.html"))
    if not pages:
        return [f"{site}: no HTML pages; build the docs first"]
    math_pages = 0
    for path in [*pages, *sorted(site.rglob("*.css"))]:
        text = path.read_text(encoding="utf-8", errors="replace")
        name = path.relative_to(site)
        for match in RESOURCE.finditer(text):
            address = next(group for group in match.groups() if group)
            found.append(f"{name}: loads {address} from the network")
        if path.suffix == ".html":
            inherited = INHERITED.search(text)
            if inherited:
                method = inherited.group(1) or inherited.group(2)
                found.append(f"{name}: documents the inherited {method}")
            unparsed = UNPARSED_SECTION.search(re.sub(r"<[^>]+>", "", text))
            if unparsed:
                found.append(f"{name}: shows an unparsed docstring section {unparsed.group(0)!r}")
        if path.suffix != ".html" or 'class="math' not in text:
            continue
        math_pages += 1
        local = [
            (path.parent / src.split("?")[0]).resolve()
            for src in SCRIPT.findall(text)
            if src.split("?")[0].endswith(MATHJAX_FILE) and not re.match(REMOTE, src)
        ]
        if not any(file.is_file() for file in local):
            found.append(f"{name}: shows formulas but loads no local {MATHJAX_FILE}")
    if math_pages == 0:
        found.append(f'{site}: no page shows a formula (class="math"); is MathJax enabled?')
    return found


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        print("usage: python docs/check_site.py BUILT_HTML_DIR", file=sys.stderr)
        return 2
    found = problems(Path(argv[0]))
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"{argv[0]}: every page renders offline (local MathJax, no remote resources)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
