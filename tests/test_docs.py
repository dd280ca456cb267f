"""The documentation a reader follows: the README is a front door whose links lead to pages under docs/,
every link there leads somewhere, and the reference tables there cover every finding code and command."""

import re
import unicodedata

import pytest
from conftest import REPO

from coordxl.cli import main
from coordxl.findings import CODES

DOCS = REPO / "docs"
PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def prose(path):
    """A page's text without its code blocks (a `[x](y)` in a shell example is no link)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def anchors(path):
    """The heading anchors GitHub makes for a page: lower case, punctuation dropped, spaces as hyphens,
    repeats numbered."""
    seen, out = {}, set()
    for line in prose(path).splitlines():
        if m := re.match(r"#{1,6} (.+)", line):
            text = re.sub(r"`", "", m.group(1)).strip().lower()
            slug = "".join(c for c in text if c in "-_ " or unicodedata.category(c)[0] in "LN").replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def relative_links(path):
    for target in LINK.findall(prose(path)):
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked here
            yield target


def broken(path):
    out = []
    for target in relative_links(path):
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.is_file():
            out.append(f"{path.name}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            out.append(f"{path.name}: {target} (no such heading)")
    return out


def test_the_readme_is_a_front_door_that_links_every_docs_page():
    readme = REPO / "README.md"
    linked = {t.partition("#")[0] for t in relative_links(readme)}
    pages = {"docs/" + p for p in ("admin.md", "staff.md", "commands.md", "settings.md", "findings.md",
                                   "benchmarks.md", "development.md")}
    assert pages <= linked
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(path):
    assert broken(path) == []


def test_the_link_check_finds_a_missing_page_and_a_missing_heading(tmp_path):
    page = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Here\n", encoding="utf-8")
    page.write_text("[ok](b.md#here) [gone](c.md) [nowhere](b.md#there)\n```sh\n[x](not-a-link.md)\n```\n",
                    encoding="utf-8")
    assert broken(page) == ["a.md: c.md (no such file)", "a.md: b.md#there (no such heading)"]


def test_the_readme_test_command_is_the_one_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    ci_test = ci.split("&&")[-1].strip()
    quick_start = readme[readme.index("# 2. set up and run the test suite") + 1]
    assert ci_test == ".venv/bin/python -m pytest" and quick_start.endswith(f"&& {ci_test}")


def rows(path):
    """First cell -> the rest of each table row of a page."""
    out = {}
    for line in prose(path).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) > 1:
            out.setdefault(cells[0], []).append(cells[1:])
    return out


def test_every_finding_code_has_one_row_with_its_severity():
    table = rows(DOCS / "findings.md")
    assert {code: len(table.get(code, [])) for code in CODES} == {code: 1 for code in CODES}
    assert {code: table[code][0][0] for code in CODES} == CODES
    assert {c for c in table if re.fullmatch(r"[WFR]-[A-Z0-9-]+", c)} == set(CODES)


def test_every_command_is_in_the_command_table():
    table = rows(DOCS / "commands.md")
    documented = {m.group(1) for cell in table if (m := re.match(r"`coordxl ([a-z-]+)", cell))}
    assert set(main.commands) <= documented
