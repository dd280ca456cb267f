"""The `coordxl check` contract: one JSON document, exit codes, the report workbook."""

import json
import subprocess
import sys

import openpyxl
import pytest
import python_calamine
from click.testing import CliRunner
from conftest import another_item, tree_hashes

from coordxl.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_json_is_exactly_one_document_with_the_contract_fields(example_root):
    before = {k: v for k, v in tree_hashes(example_root).items() if not k.startswith(("报告", ".coordxl/logs"))}
    proc = subprocess.run([sys.executable, "-m", "coordxl", "check", str(example_root), "--json",
                           "--today", "2026-08-20"], capture_output=True, text=True)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert set(doc) == {"findings", "summary"}
    for f in doc["findings"]:
        assert {"code", "severity", "workbook", "sheet", "cell", "message"} <= set(f)
    assert doc["summary"]["errors"] == 4 and doc["summary"]["warnings"] == 2
    assert doc["summary"]["items"] == 3 and doc["summary"]["skipped_rows"] == 3  # the real-life tracker's
    after = {k: v for k, v in tree_hashes(example_root).items() if not k.startswith(("报告", ".coordxl/logs"))}
    assert after == before  # check modifies no staff workbook (it writes its report and its log line)


def test_exit_0_when_no_errors(example_root):
    result = run("check", example_root, "--today", "2026-08-20", "--skip", "F-,R-ACTION,R-RESOURCE")
    assert result.exit_code == 0, result.output
    assert "0 个错误" in result.output


def test_exit_2_for_usage_and_config_errors(example_root, tmp_path):
    assert run("check", example_root, "--today", "20.8.2026").exit_code == 2
    assert run("check", example_root, "--only", "X-NOPE").exit_code == 2
    assert run("check", tmp_path / "missing").exit_code == 2
    (example_root / "coordxl.toml").write_text("[rules]\nnotice = 2\n", encoding="utf-8")
    result = run("check", example_root)
    assert result.exit_code == 2 and "rules.notice" in result.output and "Traceback" not in result.output


def test_human_output_names_workbook_cell_and_fix(example_root):
    result = run("check", example_root, "--today", "2026-08-20")
    assert result.exit_code == 1
    assert "进行中/Q3新品上市推广.xlsx" in result.output
    assert "E10" in result.output and "刘洋" in result.output


def test_english_by_setting(example_root):
    (example_root / "coordxl.toml").write_text('[general]\nlanguage = "en"\n', encoding="utf-8")
    result = run("check", example_root, "--today", "2026-08-20", "--json", "--only", "F-PERSON")
    [f] = json.loads(result.output)["findings"]
    assert f["message"] == "'刘阳' is not in the roster (Owner)" and f["hint"] == "Did you mean '刘洋'?"
    assert f["params"] == {"field": "Owner", "value": "刘阳"}


def test_json_findings_carry_the_values_their_messages_were_made_from(example_root):
    result = run("check", example_root, "--today", "2026-08-20", "--json")
    found = {f["code"]: f for f in json.loads(result.output)["findings"]}
    assert found["R-MINUTES-24H"]["params"] == {"hours": 42, "limit": 24}
    assert found["R-RESOURCE-REVIEW"]["params"] == {"id": "R03"}
    assert found["R-FOLLOWUP"]["params"] == {"date": "2026-08-12", "minutes": 45, "limit": 30}  # figures, not a sentence
    assert found["F-PERSON"]["params"] == {"field": "负责人", "value": "刘阳"}


def test_report_workbook_is_filterable_linked_and_never_formulas(example_root):
    run("check", example_root, "--today", "2026-08-20")
    path = example_root / "报告" / "校验报告-2026-08-20.xlsx"
    ws = openpyxl.load_workbook(path)["校验问题"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:G")
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert any(r[1] == "F-PERSON" and r[4] == "E10" for r in rows)
    assert all(c.data_type == "s" for row in ws.iter_rows(min_row=2) for c in row if c.value is not None)
    linked = [c.hyperlink.target for c in ws["C"][1:] if c.hyperlink]
    assert "../进行中/Q3新品上市推广.xlsx#'执行进度'!E10" in linked
    python_calamine.CalamineWorkbook.from_path(str(path))


def test_cell_text_starting_with_equals_stays_text(example_root):
    import datetime as dt

    from coordxl.findings import finding
    from coordxl.run.check import Report, write_report_workbook
    from coordxl.state.layout import Layout

    evil = finding("F-REQUIRED", "进行中/x.xlsx", sheet='=HYPERLINK("http://evil.example","x")', cell="A1",
                   field="=1+1")
    path = write_report_workbook(Report(dt.date(2026, 8, 20), [evil]), Layout.of(example_root))
    row = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1]
    assert row[3] == '=HYPERLINK("http://evil.example","x")'
    cell = openpyxl.load_workbook(path)["校验问题"]["D2"]
    assert cell.data_type == "s"


def _stderr_on_a_terminal(args):
    """Run coordxl with stderr on a pseudo-terminal (as in an admin's shell) and stdout on a pipe."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "coordxl", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode()
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, out, seen.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_progress_bar_on_a_terminal_and_none_in_a_pipe(example_root):
    code, out, terminal = _stderr_on_a_terminal(["check", example_root, "--today", "2026-08-20"])
    assert code == 1
    assert "扫描 / scanning" in terminal or ".xlsx" in terminal      # the bar was drawn on stderr
    assert "100%" in terminal                                         # and counted every workbook
    assert "扫描" not in out and "\x1b[?25l" not in out              # the result on stdout has no bar
    piped = subprocess.run([sys.executable, "-m", "coordxl", "check", str(example_root), "--today", "2026-08-20"],
                           capture_output=True, text=True)
    assert "扫描" not in piped.stderr and "\x1b" not in piped.stderr  # not a terminal: no bar at all


def test_terminal_output_is_capped_with_a_summary_by_code_and_all_on_request(example_root):
    for n in range(8):  # a messy first run: many workbooks with the same mistakes
        another_item(example_root / "进行中" / "Q3新品上市推广.xlsx", example_root / "进行中" / f"副本{n}.xlsx")
    config = example_root / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("max_rows = 20", "max_rows = 2"), encoding="utf-8")
    capped = run("check", example_root, "--today", "2026-08-20").output
    every = run("check", example_root, "--today", "2026-08-20", "--all").output
    summary = run("check", example_root, "--today", "2026-08-20", "--summary").output
    listed = lambda out: [line for line in out.splitlines() if line.startswith(("  错误 ", "  提醒 "))]  # noqa: E731
    assert len(listed(every)) == 54  # 9 workbooks × 6 findings, every one
    assert len(listed(capped)) == 2 * 5 and "……另有 4 条" in capped  # 2 per workbook, 5 workbooks in detail
    assert "按问题代码汇总" in capped and "F-PERSON ×9" in capped and "完整列表见" in capped
    assert "校验报告-2026-08-20.xlsx" in capped.replace("\n", "")
    assert listed(summary) == [] and "F-DATE ×9" in summary


def _report_sheet(path):
    import zipfile

    from coordxl.xlsx.xlsxparts import sheet_part
    with zipfile.ZipFile(path) as zf:
        return zf.read(sheet_part(zf, "校验问题"))


def test_the_report_s_long_table_is_valid_spreadsheetml_and_keeps_every_value(example_root):
    """The findings are written as XML straight (xlsxout.Body): what a colleague typed reaches the report
    exactly — markup characters, leading spaces, a control character as its visible escape — and the sheet follows
    ECMA-376's schema, so Excel opens it without a repair prompt."""
    import datetime as dt

    from ooxml_schema import errors

    from coordxl.findings import finding
    from coordxl.run.check import Report, write_report_workbook
    from coordxl.state.layout import Layout

    odd = [finding("F-REQUIRED", "进行中/a&b <c>.xlsx", sheet="执行进度", cell="E3", field=" 负责人\x0b"),
           finding("F-REQUIRED", "进行中/x.xlsx", sheet="", cell="", field="=SUM(A1)")]
    path = write_report_workbook(Report(dt.date(2026, 8, 20), odd * 3), Layout.of(example_root))
    assert errors(_report_sheet(path)) == []
    ws = openpyxl.load_workbook(path)["校验问题"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 6 and rows[0][2] == "进行中/a&b <c>.xlsx"
    assert rows[0][5] == odd[0].message("zh").replace("\x0b", "\\x0b") and " 负责人\\x0b" in rows[0][5]
    assert rows[1][3] is None and rows[1][5] == odd[1].message("zh")  # '=SUM(A1)' stays text
    assert [c.hyperlink.target for c in ws["C"][1:3]] == ["../进行中/a&b <c>.xlsx#'执行进度'!E3", "../进行中/x.xlsx"]
    assert ws["C2"].font.color.rgb.endswith("0563C1") and ws["A1"].fill.start_color.rgb.endswith("DDEBF7")


@pytest.mark.libreoffice
def test_libreoffice_follows_the_report_s_links_to_the_cells(example_root, soffice):
    import re
    import urllib.parse

    assert run("check", example_root, "--today", "2026-08-20").exit_code == 1
    page = soffice(example_root / "报告" / "校验报告-2026-08-20.xlsx", "html").read_text(encoding="utf-8",
                                                                                       errors="replace")
    links = [urllib.parse.unquote(h) for h in re.findall(r'<a href="([^"]+)"', page)]
    assert len(links) == 6
    target = (example_root / "进行中" / "Q3新品上市推广.xlsx").as_uri()
    assert f"{urllib.parse.unquote(target)}#'执行进度'!E10" in links
    assert all(link.startswith(f"{urllib.parse.unquote(target)}#") for link in links)


def test_a_missing_roster_says_the_file_is_missing_and_how_to_fix_it(example_root):
    (example_root / "名册.xlsx").unlink()
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20", "--json", "--no-report"])
    [missing] = [f for f in json.loads(result.output)["findings"] if f["workbook"] == "名册.xlsx"]
    assert "名册.xlsx 不存在" in missing["message"] and "模板/名册模板.xlsx" in missing["hint"]
