"""The splice proved by its own record: the original sheet recoverable from the edits, only the patch's
cells changed, and a splice that would change anything else refused before the workbook is touched."""

import datetime as dt
import os
import re
import zipfile

import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st
from test_writer import all_cells, flag, xlsxwriter_workbook

from coordxl.xlsx import splice, writer
from coordxl.xlsx.splice import CELL, Edit, apply_edits, patch_sheet_xml
from coordxl.xlsx.verify import proof, sheet_differences
from coordxl.xlsx.writer import SheetPatch, write_patch
from coordxl.xlsx.xlsxparts import Fingerprint, col_letters

# --- random sheets: rows with cells in several forms, empty rows, spans, attributes in another order ------

_FORMS = [
    lambda ref: b'<c r="%s" t="s"><v>3</v></c>' % ref,
    lambda ref: b'<c r="%s" s="2"><v>7.5</v></c>' % ref,
    lambda ref: b'<c r="%s" t="inlineStr"><is><t>old &amp; r="Z9"</t></is></c>' % ref,
    lambda ref: b'<c s="4" r="%s"/>' % ref,
    lambda ref: b'<c r="%s" t="str"><f>A1*2</f><v>2</v></c>' % ref,  # a formula: never overwritten
]


@st.composite
def sheets(draw):
    rows = draw(st.lists(st.tuples(st.integers(1, 40), st.lists(st.tuples(st.integers(1, 12), st.integers(0, 4)),
                                                                  max_size=6),
                                   st.sampled_from(["", ' spans="1:3"', ' spans="2:12"', ' ht="20"'])),
                         max_size=12, unique_by=lambda r: r[0]))
    body = []
    for number, cells, attrs in sorted(rows):
        columns = sorted({c: form for c, form in cells}.items())
        xml = b"".join(_FORMS[form](f"{col_letters(c)}{number}".encode()) for c, form in columns)
        head = b'<row r="%d"%s' % (number, attrs.encode())
        body.append(head + (b">" + xml + b"</row>" if xml or draw(st.booleans()) else b"/>"))
    dimension = draw(st.sampled_from([b"", b'<dimension ref="A1"/>', b'<dimension ref="B2:F30"/>']))
    return (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + dimension
            + b"<sheetData>" + b"".join(body) + b"</sheetData></worksheet>")


_VALUES = st.one_of(st.sampled_from(["逾期（截止12-24）", "今日到期", "", " a<b>&c ", None]),
                    st.integers(-5, 10**6), st.floats(-1e9, 1e9, allow_nan=False), st.booleans(),
                    st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)))


@settings(max_examples=300, deadline=None)
@given(sheets(), st.dictionaries(st.tuples(st.integers(1, 45), st.integers(1, 14)), _VALUES, max_size=25))
def test_the_splice_keeps_every_other_byte_and_proves_it(xml, cells):
    """Whatever the rows look like and whichever cells are set: the original bytes come back from the
    splice's record, the sheet outside the patch's cells is the same (compared the old, independent way:
    both sheets' skeletons), each cell holds its value, and the proof agrees."""
    edits = []
    try:
        patched = patch_sheet_xml(xml, cells, edits=edits)
    except splice.FormulaCell as blocked:  # a formula cell in the patch: nothing is spliced
        assert re.search(rb'<c r="%s" t="str"><f>' % blocked.ref.encode(), xml)
        return
    assert apply_edits(xml, edits) == patched
    assert _undo(patched, edits, xml) == xml
    assert sheet_differences(xml, patched, cells, "s") == []
    assert proof(xml, patched, edits, cells, "s") == []


def _undo(patched: bytes, edits: list[Edit], original: bytes) -> bytes:
    """The original rebuilt from the patched sheet: its kept bytes (read from the patched sheet, not the
    original) with each edit's new bytes swapped back for what it replaced."""
    out, pos, shift = [], 0, 0
    for edit in edits:
        at = edit.start + shift
        out.append(patched[pos:at])
        out.append(original[edit.start:edit.end])
        assert patched[at:at + len(edit.new)] == edit.new
        pos = at + len(edit.new)
        shift += len(edit.new) - (edit.end - edit.start)
    out.append(patched[pos:])
    return b"".join(out)


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
    assert "H2 not written" in result.findings[0].hint_en and "nothing was written" in result.findings[0].message_en
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


def test_a_zero_or_false_is_written_into_an_empty_cell(tmp_path):
    """0, 0.0 and False are values like any other: they were taken for 'nothing to write' and the write
    ended in W-LOSSY (the read-back found the cell empty)."""
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    job = SheetPatch(path, path.name, "执行进度", {(2, 10): 0, (3, 10): False, (4, 10): 0.0}, Fingerprint.of(path))
    result = write_patch(job, tmp_path / "backups")
    assert result.written and result.findings == []
    cells = all_cells(path.read_bytes())["执行进度"]
    assert [cells[r][9] for r in (1, 2, 3)] == [0, False, 0]


def test_a_flag_goes_into_an_empty_row_that_has_a_height_of_its_own(tmp_path):
    """A formatted empty row is written as <row r="8" spans="1:2" ht="30" customHeight="1"/>: the flag goes in and
    the row keeps its height (the read-back took the row opened for the cell for a loss: W-LOSSY)."""
    path = tmp_path / "tracker.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["编号", "任务"])
    ws.set_row(7, 30)
    wb.close()
    with zipfile.ZipFile(path) as zf:
        assert b'<row r="8" spans="1:2" ht="30" customHeight="1"/>' in zf.read("xl/worksheets/sheet1.xml")
    assert flag(path, {8: "受阻"}).written
    with zipfile.ZipFile(path) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml")
    assert '<row r="8" spans="1:8" ht="30" customHeight="1"><c r="H8" t="inlineStr"><is><t>受阻</t></is></c></row>'.encode() \
        in sheet


# --- what a review of the proof found (each wrote a damaged sheet as "written" before) -----------------------

_NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _workbook_with_rows(path, sheet_data: bytes) -> bytes:
    """A real workbook (openpyxl's parts) whose one sheet holds ``sheet_data`` as another writer wrote it."""
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "S"
    wb.active["A1"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = _NS + b'<dimension ref="A1:C2"/><sheetData>' + sheet_data + b"</sheetData></worksheet>"
            z.writestr(info, data)
    return path.read_bytes()


_HEAD_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c></row>'


@pytest.mark.parametrize("row, cell", [
    (b'<row r="2"><c r="A2"><v>1</v></c><c t="inlineStr"><is><t>OLD</t></is></c></row>', (2, 2)),  # B2 without r=
    (b'<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>5</v></c><c\tr="C2" t="inlineStr"><is><t>OLD</t></is></c></row>',
     (2, 3)),  # r= after a tab
], ids=["cell-without-its-reference", "reference-after-a-tab"])
def test_a_cell_the_splice_cannot_place_is_refused_never_written_twice(tmp_path, row, cell):
    """Excel would "repair" a row holding two cells of one reference (and drop one): such a write is refused,
    the workbook untouched."""
    path = tmp_path / "w.xlsx"
    before = _workbook_with_rows(path, _HEAD_ROW + row)
    result = write_patch(SheetPatch(path, "w.xlsx", "S", {cell: "预警"}, None), tmp_path / "backups")
    assert not result.written and [f.code for f in result.findings] == ["W-LOSSY"]
    assert path.read_bytes() == before


def test_a_cell_inside_an_array_formula_is_never_written_whatever_the_attribute_order(tmp_path):
    """LibreOffice and others may write ref= before t="array": B2 inside B1:B3's array stays the formula's."""
    path = tmp_path / "w.xlsx"
    before = _workbook_with_rows(path, b'<row r="1"><c r="B1"><f ref="B1:B3" t="array">A1:A3*2</f><v>2</v></c></row>'
                                       b'<row r="2"><c r="B2"><v>4</v></c></row>')
    result = write_patch(SheetPatch(path, "w.xlsx", "S", {(2, 2): "预警"}, None), tmp_path / "backups")
    assert not result.written and path.read_bytes() == before


@pytest.mark.parametrize("text", ["进展\x0b第二行", "a\x1b[0m", "第一行\r\n第二行"])
def test_text_a_cell_cannot_hold_as_written_is_refused_and_the_workbook_stays_readable(tmp_path, text):
    """A vertical tab or an escape character makes the sheet XML unreadable to Excel; a carriage return would
    read back as something else than was meant: refused, nothing written."""
    path = tmp_path / "w.xlsx"
    before = _workbook_with_rows(path, _HEAD_ROW + b'<row r="2"><c r="A2"><v>1</v></c></row>')
    result = write_patch(SheetPatch(path, "w.xlsx", "S", {(2, 2): text}, None), tmp_path / "backups")
    assert not result.written and path.read_bytes() == before
