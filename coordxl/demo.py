"""`coordxl demo`: the example folder in a temporary place, the jobs run on it, and where to look."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from .messages import text
from .run import example


def prepare(target: Path | None, source: Path | None) -> Path:
    """Copy the bundled example folder (or build it when not running from a checkout) to ``target``."""
    root = Path(target) if target else Path(tempfile.mkdtemp(prefix="coordxl-demo-")) / "协调"
    if source is not None:
        shutil.copytree(source, root, dirs_exist_ok=True)
    else:
        example.build(root)
    for name in ("归档", "报告", ".coordxl"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


def run(target: Path | None, source: Path | None, console: Console) -> Path:
    import datetime as dt

    from .run.check import write_report_workbook
    from .run.daily import run_daily
    from .run.render import print_daily
    from .state.layout import Layout

    root = prepare(target, source)
    layout = Layout.of(root)
    lang = layout.settings.lang
    t = lambda key, **kw: escape(text(key, lang, **kw))  # noqa: E731
    console.print(f"[bold]coordxl demo[/] — {t('demo.folder', root=root)}", highlight=False)
    console.print(t("demo.date", day=example.DEMO_TODAY.isoformat()) + "\n", highlight=False)
    now = dt.datetime.combine(example.DEMO_TODAY, dt.time(9, 0))
    result = run_daily(root, example.DEMO_TODAY, now, layout=layout)
    written = write_report_workbook(result.report, layout)
    print_daily(result, lang, console)
    from .run.weekly import run_weekly

    weekly = run_weekly(root, example.DEMO_TODAY, now.replace(hour=9, minute=30), layout=layout)
    console.print(f"\n[bold]{t('demo.look')}[/]", highlight=False)
    for key, value in (("demo.flagged", layout.active / "Q3新品上市推广.xlsx"),
                       ("demo.real_life", layout.active / (example.STORES + ".xlsx")),
                       ("demo.report", written), ("demo.weekly", weekly.weekly.path),
                       ("demo.mails", layout.state / "outbox" / example.DEMO_TODAY.isoformat()),
                       ("demo.state", layout.db),
                       *(("demo.posts", path) for path in sorted(
                           (layout.state / "outbox" / example.DEMO_TODAY.isoformat()).glob("post-*.json")))):
        console.print("  " + t(key, path=value), highlight=False)
    console.print("  " + t("demo.try", root=root, day=example.DEMO_TODAY.isoformat()), highlight=False)
    return root
