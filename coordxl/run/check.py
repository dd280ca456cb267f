"""`coordxl check`: one pass over the folder (pipeline.FolderCheck) and its report workbook."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from ..messages import text
from ..process.rules import Selection
from ..state.layout import Layout, workbook_link
from .context import RunContext
from .pipeline import FolderCheck, Report


def run_check(root: Path | str, today: dt.date, selection: Selection = Selection(),
              progress: Callable[[Path, int], None] | None = None, layout: Layout | None = None,
              keep_items: bool = False, workers: int | None = None) -> Report:
    """Validate a shared folder as of ``today`` (see pipeline.FolderCheck); ``keep_items`` keeps the
    normalized items on the report, and checks in this one process."""
    checking = FolderCheck(RunContext.of(layout or Layout.of(root), today), selection, items=keep_items,
                           workers=workers, progress=progress)
    for item, _ in checking:
        checking.report.items.append(item)
    return checking.report


def write_report_workbook(report: Report, layout: Layout) -> Path:
    """报告/校验报告-<date>.xlsx: one row per finding, a link to the file, filterable, frozen header.

    The header through openpyxl (write-only), the findings as SpreadsheetML straight (xlsxout.Body).
    Measured on 10,000 findings (python benchmarks/bench_report.py): see docs/benchmarks.md; openpyxl cell by
    cell took 1.2 s, xlsxwriter 0.7 s (and writes relative links with Windows backslashes).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import NamedStyle

    from ..xlsx import xlsxout

    lang = layout.settings.lang
    share = layout.settings["general.share_url"]  # a report mailed or copied elsewhere still links the files
    wb = Workbook(write_only=True)
    for style in (NamedStyle("coordxl-head", font=xlsxout.HEADER_FONT, fill=xlsxout.HEADER_FILL),
                  NamedStyle("coordxl-link", font=xlsxout.LINK_FONT)):
        wb.add_named_style(style)
    ws = wb.create_sheet(text("report.sheet", lang))
    xlsxout.widths(ws, (8, 20, 36, 12, 8, 60, 50))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:G{max(1, len(report.findings) + 1)}"
    xlsxout.print_setup(ws)

    def head(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        cell.style = "coordxl-head"
        return cell

    ws.append([head(h) for h in text("report.headers", lang).split("|")])
    severity = {"error": text("report.error", lang), "warning": text("report.warning", lang)}
    body = xlsxout.Body(ws, 2, styles={3: xlsxout.style(ws, style="coordxl-link")})
    for f in report.findings:
        target = (workbook_link(share, f.workbook, f.sheet, f.cell)[0] if share else
                  f"../{f.workbook}" + (f"#'{f.sheet}'!{f.cell}" if f.sheet and f.cell else ""))
        body.rows.append([severity[f.severity], f.code, xlsxout.Link(f.workbook, target), f.sheet, f.cell,
                          f.message(lang), f.hint(lang)])
    return xlsxout.save(wb, layout.reports / text("file.validation", lang, day=report.today.isoformat()), [body])
