"""The repository explains itself: every documentation reference resolves inside it.

- No file cites the method specification or the design notes that once lived outside the
  repository (by section sign or by name); references point into ``docs/`` instead.
- Every ``docs/<page>.md#<anchor>`` reference anywhere in the tree names an existing page and
  one of its section anchors (GitHub heading anchors), and every relative link inside
  ``docs/`` resolves.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_DIRS = {".git", ".venv", ".venv-vllm", "venv", "__pycache__", ".pytest_cache", ".ruff_cache",
             "outputs", "multirun", "wandb", "node_modules", "build", "dist"}
MAX_BYTES = 2_000_000

# Built from pieces so that this file does not match itself.
OUTSIDE_REFS = [
    re.compile("SPEC" + r"\s*§"),
    re.compile(r"\b" + "DESI" + r"GN\b"),
]
DOCS_REF = re.compile(r"\bdocs/([A-Za-z0-9_.-]+\.md)(?:#([A-Za-z0-9_-]+))?")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


@lru_cache(maxsize=1)
def text_files() -> tuple[tuple[Path, str], ...]:
    """Every text file of the repository (binary, huge and generated files skipped)."""
    out = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") or part.startswith(".venv")
               for part in rel.parts[:-1]):  # .venv-vllm, .venv-openvino: installed packages
            continue
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            out.append((path, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return tuple(out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: plain text, lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Section anchors of a Markdown page (headings outside code fences, explicit ids)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
            continue
        if fence:
            continue
        out.update(EXPLICIT_ANCHOR.findall(line))
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def test_docs_pages_exist() -> None:
    for page in ("README.md", "method.md", "data.md", "design.md"):
        assert (DOCS / page).is_file(), f"docs/{page} is missing"


def test_no_reference_to_documents_outside_the_repository() -> None:
    bad = []
    for path, text in text_files():
        for i, line in enumerate(text.splitlines(), 1):
            if any(p.search(line) for p in OUTSIDE_REFS):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, ("references to documents outside the repository (point them into docs/; "
                     "see docs/README.md):\n" + "\n".join(bad))


def test_docs_references_resolve() -> None:
    bad = []
    for path, text in text_files():
        for i, line in enumerate(text.splitlines(), 1):
            for m in DOCS_REF.finditer(line):
                page, anchor = DOCS / m.group(1), m.group(2)
                where = f"{path.relative_to(ROOT)}:{i}: {m.group(0)}"
                if not page.is_file():
                    bad.append(f"{where}: no such page")
                elif anchor and anchor not in anchors(page):
                    bad.append(f"{where}: no section #{anchor} (has: {sorted(anchors(page))})")
    assert not bad, "broken docs/ references:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")) or ["README.md"])
def test_links_inside_docs_resolve(page: str) -> None:
    src = DOCS / page
    if not src.is_file():
        pytest.fail(f"docs/{page} is missing")
    bad = []
    for target in MD_LINK.findall(src.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (src.parent / file_part).resolve() if file_part else src
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no section #{anchor}")
    assert not bad, f"docs/{page}: broken links:\n" + "\n".join(bad)
