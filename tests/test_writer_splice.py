"""The splice proved by its own record: a splice that would change anything but its cells is refused
before the workbook is touched."""

import os

import pytest
from test_writer import flag, xlsxwriter_workbook

from coordxl.xlsx import splice, writer
from coordxl.xlsx.splice import CELL, Edit, apply_edits, patch_sheet_xml
from coordxl.xlsx.verify import proof

# --- the proof can fail: each kind of wrong splice is caught ------------------------------------------------

XML = (b'<worksheet><dimension ref="A1:C3"/><sheetData>'
       b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
       b'<row r="2"><c r="A2"><v>1</v></c><c r="B2"><f>A2</f><v>1</v></c></row>'
       b'<row r="3"><c r="A3"><v>2</v></c></row></sheetData></worksheet>')
CELLS = {(2, 3): "受阻"}


def _spliced():
    edits = []
    return patch_sheet_xml(XML, CELLS, edits=edits), edits


def _moved(edits, start):
    return [e._replace(start=start, end=start) if e.kind == CELL else e for e in edits]


WRONG = {
    "the cell put in another row": lambda edits: _moved(edits, XML.index(b"</row>", XML.index(b'<row r="3"'))),
    "the cell put inside another cell": lambda edits: _moved(edits, XML.index(b"<v>1</v>") + 3),
    "another cell replaced": lambda edits: [e._replace(start=XML.index(b'<c r="A2"'), end=XML.index(b'<c r="B2"'))
                                            if e.kind == CELL else e for e in edits],
    "a formula replaced": lambda edits: [e._replace(start=XML.index(b'<c r="B2"'), end=XML.index(b"</row>", 80))
                                         if e.kind == CELL else e for e in edits],
    "the value not the one meant": lambda edits: [e._replace(new=e.new.replace("受阻".encode(), "受".encode()))
                                                  if e.kind == CELL else e for e in edits],
    "text that is not XML": lambda edits: [e._replace(new=e.new.replace("受阻".encode(), b"a<b")) if e.kind == CELL
                                           else e for e in edits],
    "edits out of order": lambda edits: list(reversed(edits)),
    "a dimension narrowed": lambda edits: edits + [Edit(XML.index(b"<dimension"), XML.index(b"<sheetData"),
                                                        b'<dimension ref="A1:A1"/>', "dimension")],
}


@pytest.mark.parametrize("what", WRONG)
def test_the_proof_catches_a_wrong_splice(what):
    _, edits = _spliced()
    wrong = sorted(WRONG[what](edits), key=lambda e: e.start) if what != "edits out of order" else WRONG[what](edits)
    content = apply_edits(XML, wrong) if what != "edits out of order" else XML
    assert proof(XML, _spliced()[0], edits, CELLS, "执行进度") == []
    assert proof(XML, content, wrong, CELLS, "执行进度") != []


def test_a_splice_that_would_change_more_than_its_cells_is_refused_before_the_workbook_is_touched(tmp_path,
                                                                                                   monkeypatch):
    """A splice that goes wrong (here: it writes the flag into the row below) never reaches the disk:
    W-LOSSY, the workbook byte for byte as it was, no backup and no temp file left."""
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    before, mtime = path.read_bytes(), os.stat(path).st_mtime_ns
    splice_edits = splice.splice_edits

    def off_by_one_row(xml, cells, styled=frozenset()):
        edits = splice_edits(xml, cells, styled)
        below = [e for e in edits if e.kind == CELL]
        nxt = xml.index(b"</row>", xml.index(b'<row r="%d"' % (below[0].row + 1)))
        return [e._replace(start=nxt, end=nxt) if e.kind == CELL else e for e in edits]
    monkeypatch.setattr(splice, "splice_edits", off_by_one_row)
    result = flag(path, {2: "受阻"})
    assert not result.written and [f.code for f in result.findings] == ["W-LOSSY"]
    assert "H2 not written" in result.findings[0].hint_en
    assert path.read_bytes() == before and os.stat(path).st_mtime_ns == mtime
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p != path]


def test_the_protocol_splices_through_the_writers_patch_sheet_xml(tmp_path, monkeypatch):
    """conftest validates every patched sheet against ECMA-376 by wrapping writer.patch_sheet_xml: the
    protocol must splice through that name, or the check silently stops covering the write-back tests."""
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    seen = []
    wrapped = writer.patch_sheet_xml
    monkeypatch.setattr(writer, "patch_sheet_xml", lambda *a, **kw: seen.append(a[1]) or wrapped(*a, **kw))
    assert flag(path, {2: "受阻"}).written and seen == [{(2, 8): "受阻"}]
