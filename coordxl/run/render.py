"""Findings for a person at a terminal: a rich table per workbook and a one-line summary."""

from __future__ import annotations

import operator
from itertools import groupby
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ..messages import MESSAGES, text
from ..platform_support import visible
from ..send.delivery import resend_command
from .pipeline import Report

_code = operator.attrgetter("code")
# what a run left out, for its summary line: (message, summary key)
LEFT_OUT = (("copies", "copies"), ("unsupported", "unsupported"), ("other", "other_files"))
DETAIL_WORKBOOKS = 5  # workbooks shown finding by finding before the rest are one line each (unless --all)


def print_report(report: Report, lang: str, console: Console, written: Path | None = None, max_rows: int = 20,
                 show: str = "capped") -> None:
    """What a check found, readable at any size: a summary by code (count, one example, what to do), then
    per workbook at most ``max_rows`` findings (``show="all"``: every one; ``"summary"``: none), then the
    totals. Everything is printed as literal text (cell text is never markup), in one pass: the cost does
    not grow with a table renderer's layout of thousands of rows."""
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    err, warn = t("out.error"), t("out.warning")
    findings = report.findings
    cut = 0
    if show != "summary" and findings:
        out = Text()
        detailed = 0
        for workbook, group in groupby(findings, key=lambda f: f.workbook):
            group = list(group)
            errors = sum(f.is_error for f in group)
            out.append(visible(f"{workbook}"), style="bold")
            out.append(t("out.workbook_counts", errors=errors, warnings=len(group) - errors) + "\n")
            limit = len(group) if show == "all" else (max_rows if detailed < DETAIL_WORKBOOKS else 0)
            detailed += 1
            for f in group[:limit]:
                where = f"{f.sheet}!{f.cell}" if f.sheet and f.cell else (f.sheet or "-")
                out.append(f"  {err if f.is_error else warn} ", style="red" if f.is_error else "yellow")
                out.append(visible(f"{f.code} {where} {f.message(lang)}"))
                hint = f.hint(lang)
                out.append(visible(f" — {hint}") + "\n" if hint else "\n", style="dim")
            if limit < len(group):
                cut += len(group) - limit
                if limit:
                    out.append("  " + t("out.more", n=len(group) - limit) + "\n", style="dim")
        console.print(out, highlight=False, soft_wrap=True, end="")
    if findings and (show == "summary" or len(findings) > max_rows):
        by_code: dict[str, list] = {}
        for code, group in groupby(sorted(findings, key=_code), key=_code):
            by_code[code] = list(group)
        out = Text(t("out.by_code") + "\n", style="bold")
        for code, group in sorted(by_code.items(), key=lambda kv: (not kv[1][0].is_error, -len(kv[1]), kv[0])):
            first = group[0]
            where = " ".join(x for x in (first.workbook, f"{first.sheet}!{first.cell}" if first.cell else first.sheet) if x)
            out.append(f"  {code} ×{len(group)} ", style="red" if first.is_error else "yellow")
            out.append(visible(t("out.example", where=where, message=first.message(lang))))
            hint = first.hint(lang)
            out.append(visible(f" — {hint}") + "\n" if hint else "\n", style="dim")
        console.print(out, highlight=False, soft_wrap=True, end="")
    s = report.summary()
    line = t("out.totals", workbooks=s["workbooks"], items=s["items"], tasks=s["tasks"], errors=s["errors"],
             warnings=s["warnings"], today=s["today"])
    if s.get("skipped_rows"):
        line += t("out.skipped_rows", n=s["skipped_rows"])
    left = [t(f"out.left.{key}", n=s[name]) for key, name in LEFT_OUT if s.get(name)]
    if left:  # never "checked 0 workbooks" over a folder of files it did not read
        line += t("out.left_out", what=t("out.list_sep").join(left))
    ok = s["errors"] == 0
    console.print(Text(("✔ " if ok else "✘ ") + line, style="green" if ok else "red"), highlight=False)
    if cut:
        where = str(written) if written else "coordxl check --all"
        console.print(Text(t("out.cut", n=cut, where=where), style="dim"), highlight=False)
    if written:
        console.print(t("out.report", path=written), highlight=False, markup=False)


STATES = ("overdue", "due_today", "due_soon", "stale", "blocked", "invalid", "paused", "ok", "done", "cancelled")
SKIPS = ("locked", "changed", "writeback_off", "lossy", "formula", "format", "ambiguous_sheet", "readonly", "permission")
STATE_LABELS = {lang: {k: text(f"out.state.{k}", lang) for k in STATES} for lang in ("zh", "en")}
SKIP_REASONS = {lang: {k: text(f"out.skip.{k}", lang) for k in SKIPS} for lang in ("zh", "en")}


def print_daily(result, lang: str, console: Console, max_rows: int = 20, show: str = "capped",
                written: Path | None = None) -> None:
    """The daily job's summary: findings, tasks by state, flags written or planned, workbooks skipped."""

    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    if result.report is not None:
        shown = Report(result.today, result.findings, workbooks=result.report.workbooks,
                       item_count=result.report.item_count, task_count=result.report.task_count,
                       skipped_rows=result.report.skipped_rows, copies=result.report.copies,
                       unsupported=result.report.unsupported, other_files=result.report.other_files)
        print_report(shown, lang, console, written, max_rows, show)
    labels = STATE_LABELS[lang]
    states = t("out.list_sep").join(f"{labels[s]} {n}" for s, n in sorted(result.states.items(), key=lambda kv: list(labels).index(kv[0])))
    console.print(t("out.tasks", states=states or "-"), highlight=False)
    if result.untracked_actions:
        n = sum(result.untracked_actions.values())
        console.print(t("out.untracked", n=n))
    if result.dry_run:
        planned = result.planned if show == "all" else result.planned[:max_rows * DETAIL_WORKBOOKS]
        if planned and show != "summary":
            out = Text(t("out.planned") + "\n", style="bold")
            for p in planned:
                out.append(visible(f"  {p.workbook} › {p.sheet} › {p.cell}: “{p.old}” → “{p.new}”") + "\n")
            if len(planned) < len(result.planned):
                more = len(result.planned) - len(planned)
                out.append("  " + t("out.more", n=more) + "\n", style="dim")
            console.print(out, highlight=False, soft_wrap=True, end="")
        console.print(t("out.dry_flags", n=len(result.planned)))
    else:
        console.print(t("out.wrote", cells=result.cells_written, workbooks=len(result.written)), highlight=False)
    reasons = SKIP_REASONS[lang]
    for workbook, reason in result.skipped:
        console.print("  " + t("out.skipped", workbook=workbook, reason=reasons.get(reason, reason)), highlight=False,
                      markup=False)
    print_mail_summary(result, lang, console)


def print_mail_summary(result, lang: str, console: Console) -> None:
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    if result.mail_note == "non_workday":
        console.print(t("out.non_workday"))
        return
    if result.dry_run:
        for mail in result.mails:
            cc = t("out.cc", names="、".join(p.name for p in mail.cc)) if mail.cc else ""
            console.print(f"  ✉ {mail.to.name} <{mail.to.email}>{cc}: {mail.subject}", highlight=False, markup=False)
        console.print(t("out.dry_mails", n=len(result.mails)))
        for post in getattr(result, "posts", []):
            console.print("  " + t("out.dry_post", channel=post.channel.name, title=post.title), highlight=False,
                          markup=False)
        return
    d = result.delivery
    if d is None:
        return
    console.print(t("out.mails", sent=len(d.sent), skipped=len(d.skipped), failed=len(d.failed)), highlight=False)
    for mail, error in d.failed:
        console.print(f"  ✘ {mail.to.name} <{mail.to.email}>: {error}", highlight=False, markup=False)
    for mail, _ in d.unknown:
        console.print(t("mail.unknown", name=mail.to.name, address=mail.to.email, command=resend_command(mail.kind)),
                      style="yellow",
                      highlight=False, markup=False)
    if d.held:
        console.print(t("out.held", n=len(d.held)), style="yellow", highlight=False)
    if getattr(result, "post_delivery", None) is not None:
        pd = result.post_delivery
        console.print(t("out.posts", sent=len(pd.sent), skipped=len(pd.skipped), failed=len(pd.failed)),
                      highlight=False)
        for post, error in pd.failed:
            console.print(f"  ✘ #{post.channel.name}: {error}", highlight=False, markup=False)
    for r in d.refused:
        reason = t(f"health.refused.{r.reason}") if f"health.refused.{r.reason}" in MESSAGES else r.reason
        console.print("  " + t("out.refused", name=r.name, address=r.address, reason=reason), highlight=False,
                      markup=False)
