"""The project's own documents stand alone: a clone has everything they point to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to '-'."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_concepts_page_exists_and_the_readme_points_to_it() -> None:
    assert (ROOT / "docs" / "concepts.md").is_file()
    assert "](docs/concepts.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_points_outside_the_project(document: Path) -> None:
    """``../shared/SPEC.md`` and the like exist beside the checkout, not in a clone."""
    text = document.read_text(encoding="utf-8")
    assert "shared/" not in text
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        assert linked.is_relative_to(ROOT) and linked.exists(), target
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked.read_text(encoding="utf-8")), target


def test_no_code_or_test_points_to_the_shared_folder() -> None:
    sources = [
        p
        for folder in ("bot", "storage", "tests", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
        if p != Path(__file__).resolve()
    ]
    assert sources
    named = [str(p.relative_to(ROOT)) for p in sources if "../shared" in p.read_text("utf-8")]
    assert named == []
