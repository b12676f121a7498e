"""The README and docs/: every relative link reaches a file, every #anchor a heading, and the README stays short."""

import re

import pytest

from sview_assets.config.settings import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "ARCHITECTURE.md", PROJECT_ROOT / "CONTRIBUTING.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def headings_anchors(path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (code blocks skipped)."""
    anchors, fence = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def relative_links(path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [link for link in LINK.findall(text) if not link.startswith(("http://", "https://", "mailto:"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for link in relative_links(page):
        target, _, anchor = link.partition("#")
        file = (page.parent / target).resolve() if target else page
        if not file.exists():
            broken.append(f"{link}: no file {file.relative_to(PROJECT_ROOT) if file.is_relative_to(PROJECT_ROOT) else file}")
        elif anchor and file.suffix == ".md" and anchor not in headings_anchors(file):
            broken.append(f"{link}: no heading #{anchor} in {file.name}")
    assert broken == []


def test_the_readme_fits_two_screens_and_links_every_docs_page():
    readme = PROJECT_ROOT / "README.md"
    assert len(readme.read_text().splitlines()) < 250
    linked = {link.partition("#")[0] for link in relative_links(readme)}
    assert {f"docs/{p.name}" for p in (PROJECT_ROOT / "docs").glob("*.md")} <= linked
