"""Findings for a person at a terminal: a rich table per workbook and a one-line summary."""

from __future__ import annotations

import operator
from itertools import groupby
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .check import Report
from .messages import text

HEAD = {"zh": ("错误", "提醒"), "en": ("error", "warning")}
_code = operator.attrgetter("code")
DETAIL_WORKBOOKS = 5  # workbooks shown finding by finding before the rest are one line each (unless --all)


def print_report(report: Report, lang: str, console: Console, written: Path | None = None, max_rows: int = 20,
                 show: str = "capped") -> None:
    """What a check found, readable at any size: a summary by code (count, one example, what to do), then
    per workbook at most ``max_rows`` findings (``show="all"``: every one; ``"summary"``: none), then the
    totals. Everything is printed as literal text (cell text is never markup), in one pass: the cost does
    not grow with a table renderer's layout of thousands of rows."""
    err, warn = HEAD[lang]
    zh = lang == "zh"
    findings = report.findings
    cut = 0
    if show != "summary" and findings:
        out = Text()
        detailed = 0
        for workbook, group in groupby(findings, key=lambda f: f.workbook):
            group = list(group)
            errors = sum(f.is_error for f in group)
            out.append(f"{workbook}", style="bold")
            out.append((f"：{errors} 个错误，{len(group) - errors} 个提醒\n" if zh else
                        f": {errors} errors, {len(group) - errors} warnings\n"))
            limit = len(group) if show == "all" else (max_rows if detailed < DETAIL_WORKBOOKS else 0)
            detailed += 1
            for f in group[:limit]:
                where = f"{f.sheet}!{f.cell}" if f.sheet and f.cell else (f.sheet or "-")
                out.append(f"  {err if f.is_error else warn} ", style="red" if f.is_error else "yellow")
                out.append(f"{f.code} {where} {f.message(lang)}")
                hint = f.hint(lang)
                out.append(f" — {hint}\n" if hint else "\n", style="dim")
            if limit < len(group):
                cut += len(group) - limit
                if limit:
                    out.append((f"  ……另有 {len(group) - limit} 条\n" if zh else f"  …and {len(group) - limit} more\n"),
                               style="dim")
        console.print(out, highlight=False, soft_wrap=True, end="")
    if findings and (show == "summary" or len(findings) > max_rows):
        by_code: dict[str, list] = {}
        for code, group in groupby(sorted(findings, key=_code), key=_code):
            by_code[code] = list(group)
        out = Text("按问题代码汇总\n" if zh else "By finding code\n", style="bold")
        for code, group in sorted(by_code.items(), key=lambda kv: (not kv[1][0].is_error, -len(kv[1]), kv[0])):
            first = group[0]
            where = " ".join(x for x in (first.workbook, f"{first.sheet}!{first.cell}" if first.cell else first.sheet) if x)
            out.append(f"  {code} ×{len(group)} ", style="red" if first.is_error else "yellow")
            out.append((f"例：{where} {first.message(lang)}" if zh else f"e.g. {where} {first.message(lang)}"))
            hint = first.hint(lang)
            out.append(f" — {hint}\n" if hint else "\n", style="dim")
        console.print(out, highlight=False, soft_wrap=True, end="")
    s = report.summary()
    if zh:
        line = (f"检查了 {s['workbooks']} 个工作簿、{s['items']} 个事项、{s['tasks']} 项任务："
                f"{s['errors']} 个错误，{s['warnings']} 个提醒（{s['today']}）")
        if s.get("skipped_rows"):
            line += f"；跳过 {s['skipped_rows']} 个分节/合计行"
    else:
        line = (f"Checked {s['workbooks']} workbooks, {s['items']} items, {s['tasks']} tasks: "
                f"{s['errors']} errors, {s['warnings']} warnings ({s['today']})")
        if s.get("skipped_rows"):
            line += f"; {s['skipped_rows']} section/total rows skipped"
    ok = s["errors"] == 0
    console.print(Text(("✔ " if ok else "✘ ") + line, style="green" if ok else "red"), highlight=False)
    if cut:
        where = str(written) if written else ("coordxl check --all" if zh else "coordxl check --all")
        console.print(Text((f"另有 {cut} 条未逐条列出，完整列表见 {where}" if zh else
                            f"{cut} more findings not listed one by one: the full list is in {where}"), style="dim"),
                      highlight=False)
    if written:
        console.print(("校验报告：" if lang == "zh" else "Report: ") + str(written), highlight=False, markup=False)


STATE_LABELS = {
    "zh": {"overdue": "逾期", "due_today": "今日到期", "due_soon": "即将到期", "stale": "未更新", "blocked": "受阻",
           "invalid": "待修正", "ok": "正常", "done": "已完成", "cancelled": "已取消"},
    "en": {"overdue": "overdue", "due_today": "due today", "due_soon": "due soon", "stale": "stale",
           "blocked": "blocked", "invalid": "to fix", "ok": "on track", "done": "done", "cancelled": "cancelled"},
}
SKIP_REASONS = {
    "zh": {"locked": "文件正被打开", "changed": "运行期间被修改", "writeback_off": "已关闭写回", "lossy": "写入会改变其他内容，已恢复",
           "formula": "预警列是公式", "format": "旧格式，不写入",
           "ambiguous_sheet": "有多个执行进度表，无法确定读哪个", "readonly": "只读文件",
           "permission": "无法保留文件所有者"},
    "en": {"locked": "open in Excel/LibreOffice", "changed": "changed during the run", "writeback_off": "write-back is off",
           "lossy": "would change other content; restored", "formula": "alert cell is a formula",
           "format": "old format, never written",
           "ambiguous_sheet": "several tracker sheets; none is named exactly", "readonly": "read-only file",
           "permission": "its owner could not be kept"},
}


def print_daily(result, lang: str, console: Console, max_rows: int = 20, show: str = "capped",
                written: Path | None = None) -> None:
    """The daily job's summary: findings, tasks by state, flags written or planned, workbooks skipped."""
    from .check import Report

    zh = lang == "zh"
    if result.report is not None:
        shown = Report(result.today, result.findings, workbooks=result.report.workbooks,
                       item_count=result.report.item_count, task_count=result.report.task_count,
                       skipped_rows=result.report.skipped_rows)
        print_report(shown, lang, console, written, max_rows, show)
    labels = STATE_LABELS[lang]
    states = "，".join(f"{labels[s]} {n}" for s, n in sorted(result.states.items(), key=lambda kv: list(labels).index(kv[0])))
    console.print(("任务状态：" if zh else "Tasks: ") + (states or "-"), highlight=False)
    if result.untracked_actions:
        n = sum(result.untracked_actions.values())
        console.print(f"未拆解为任务的待办事项：{n}" if zh else f"Action items without a task: {n}")
    if result.dry_run:
        planned = result.planned if show == "all" else result.planned[:max_rows * DETAIL_WORKBOOKS]
        if planned and show != "summary":
            out = Text("将写入的预警（未写入）\n" if zh else "Alerts that would be written (dry run)\n", style="bold")
            for p in planned:
                out.append(f"  {p.workbook} › {p.sheet} › {p.cell}: “{p.old}” → “{p.new}”\n")
            if len(planned) < len(result.planned):
                more = len(result.planned) - len(planned)
                out.append(f"  ……另有 {more} 个\n" if zh else f"  …and {more} more\n", style="dim")
            console.print(out, highlight=False, soft_wrap=True, end="")
        console.print((f"试运行：{len(result.planned)} 个预警单元格将更新，未写入任何文件" if zh else
                       f"Dry run: {len(result.planned)} alert cells would change; nothing was written"))
    else:
        console.print((f"已更新 {result.cells_written} 个预警单元格，写入 {len(result.written)} 个工作簿" if zh else
                       f"Wrote {result.cells_written} alert cells in {len(result.written)} workbooks"), highlight=False)
    reasons = SKIP_REASONS[lang]
    for workbook, reason in result.skipped:
        console.print(("  跳过 " if zh else "  skipped ") + f"{workbook}: {reasons.get(reason, reason)}", highlight=False,
                      markup=False)
    print_mail_summary(result, lang, console)


def print_mail_summary(result, lang: str, console: Console) -> None:
    zh = lang == "zh"
    if result.mail_note == "non_workday":
        console.print("今天不是工作日，未发送提醒。" if zh else "Not a working day: no reminders sent.")
        return
    if result.dry_run:
        for mail in result.mails:
            cc = ("，抄送 " if zh else ", cc ") + "、".join(p.name for p in mail.cc) if mail.cc else ""
            console.print(f"  ✉ {mail.to.name} <{mail.to.email}>{cc}: {mail.subject}", highlight=False, markup=False)
        console.print((f"试运行：将发送 {len(result.mails)} 封提醒邮件（未发送）" if zh else
                       f"Dry run: {len(result.mails)} reminder mails would be sent"))
        for post in getattr(result, "posts", []):
            console.print((f"  # {post.channel.name}：{post.title}（未发送）" if zh else
                           f"  # {post.channel.name}: {post.title} (not sent)"), highlight=False, markup=False)
        return
    d = result.delivery
    if d is None:
        return
    console.print((f"提醒邮件：发送 {len(d.sent)}，已发过跳过 {len(d.skipped)}，失败 {len(d.failed)}" if zh else
                   f"Reminders: {len(d.sent)} sent, {len(d.skipped)} already sent, {len(d.failed)} failed"),
                  highlight=False)
    for mail, error in d.failed:
        console.print(f"  ✘ {mail.to.name} <{mail.to.email}>: {error}", highlight=False, markup=False)
    for mail, _ in d.unknown:
        console.print(text("mail.unknown", lang, name=mail.to.name, address=mail.to.email), style="yellow",
                      highlight=False, markup=False)
    if d.held:
        console.print((f"[yellow]超过每次运行上限（reminders.max_mails_per_run），{len(d.held)} 封留待下次发送[/]" if zh else
                       f"[yellow]Over the per-run cap (reminders.max_mails_per_run): {len(d.held)} mails wait for the next run[/]"))
    if getattr(result, "post_delivery", None) is not None:
        pd = result.post_delivery
        console.print((f"群消息：发送 {len(pd.sent)}，已发过跳过 {len(pd.skipped)}，失败 {len(pd.failed)}" if zh else
                       f"Group posts: {len(pd.sent)} sent, {len(pd.skipped)} already sent, {len(pd.failed)} failed"),
                      highlight=False)
        for post, error in pd.failed:
            console.print(f"  ✘ #{post.channel.name}: {error}", highlight=False, markup=False)
    for r in d.refused:
        reason = {"domain": "不在允许的域名内" if zh else "outside the allowed domains",
                  "bad_address": "邮箱地址无效" if zh else "invalid address"}.get(r.reason, r.reason)
        console.print(("  拒绝发送 " if zh else "  refused ") + f"{r.name} <{r.address}>: {reason}", highlight=False,
                      markup=False)
