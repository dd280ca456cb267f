"""`coordxl demo`: the example folder in a temporary place, the jobs run on it, and where to look."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from . import example


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
    root = prepare(target, source)
    console.print(f"[bold]coordxl demo[/] — 示例文件夹 / example folder: {root}", highlight=False)
    console.print(f"演示日期 / demo date: {example.DEMO_TODAY.isoformat()}")
    for path in sorted(root.rglob("*.xlsx")):
        console.print(f"  {path.relative_to(root)}", highlight=False)
    return root
