"""The bundled example folder is what the generator makes (so the demo and its planted mistakes never drift)."""

import python_calamine
from conftest import EXAMPLE

from coordxl.run import example


def cells(path):
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names}


def test_committed_example_matches_the_generator(tmp_path):
    written = example.build(tmp_path / "example")
    for path in written:
        committed = EXAMPLE / path.relative_to(tmp_path / "example")
        assert committed.exists(), committed
        if path.suffix == ".xlsx":
            assert cells(committed) == cells(path), (
                f"{committed} drifted; run: python -m coordxl.run.example workbooks/example")
        else:
            assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
