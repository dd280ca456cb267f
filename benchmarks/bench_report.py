"""The validation report workbook (报告/校验报告-<date>.xlsx) at 10,000 findings, three ways.

    python benchmarks/bench_report.py [--findings 10000]

  coordxl     write_report_workbook as shipped: the header through openpyxl, the rows as SpreadsheetML
              straight (xlsxout.Body; the last version, openpyxl write-only with named styles: 1.2 s)
  per-cell    the previous way: an openpyxl worksheet with a Font object set on every link cell
  xlsxwriter  constant_memory mode with shared formats (not used: its relative links become ..\\a\\b.xlsx)
Median of 3 runs each, in this process.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_output import report_of  # noqa: E402

from coordxl.run.check import write_report_workbook  # noqa: E402
from coordxl.state.layout import Layout  # noqa: E402
from coordxl.xlsx.xlsxout import put_text  # noqa: E402


def per_cell(report, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    wb = Workbook()
    ws = wb.active
    ws.append(["级别", "代码", "工作簿", "工作表", "单元格", "问题", "处理建议"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", start_color="DDEBF7")
    for r, f in enumerate(report.findings, start=2):
        for c, value in enumerate(["错误", f.code, f.workbook, f.sheet, f.cell, f.message("zh"), f.hint("zh")], start=1):
            put_text(ws, r, c, value)
        ws.cell(row=r, column=3).hyperlink = f"../{f.workbook}#'{f.sheet}'!{f.cell}"
        ws.cell(row=r, column=3).font = Font(color="0563C1", underline="single")
    wb.save(path)


def with_xlsxwriter(report, path: Path) -> None:
    import xlsxwriter
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    ws = wb.add_worksheet("校验问题")
    head, link = wb.add_format({"bold": True, "bg_color": "#DDEBF7"}), wb.add_format({"font_color": "#0563C1",
                                                                                      "underline": 1})
    ws.write_row(0, 0, ["级别", "代码", "工作簿", "工作表", "单元格", "问题", "处理建议"], head)
    for r, f in enumerate(report.findings, start=1):
        ws.write_string(r, 0, "错误")
        ws.write_string(r, 1, f.code)
        ws.write_url(r, 2, f"external:../{f.workbook}#'{f.sheet}'!{f.cell}", link, f.workbook)
        for c, value in enumerate((f.sheet, f.cell, f.message("zh"), f.hint("zh")), start=3):
            ws.write_string(r, c, value)
    wb.close()


def median(fn) -> float:
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp()) / "share"
    shutil.copytree(REPO / "workbooks" / "example", root)
    layout = Layout.of(root)
    report = report_of(args.findings, 300)
    print(f"{args.findings} findings")
    print(f"  coordxl (rows as XML straight):      {median(lambda: write_report_workbook(report, layout)):.2f} s")
    print(f"  per-cell styles (before):           {median(lambda: per_cell(report, root / 'a.xlsx')):.2f} s")
    print(f"  xlsxwriter constant_memory:         {median(lambda: with_xlsxwriter(report, root / 'b.xlsx')):.2f} s")


if __name__ == "__main__":
    main()
