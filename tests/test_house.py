"""The shape of the code: one-way imports between layers, no cycles, lint clean.

The layers, bottom to top ("Code layout" in docs/development.md says what goes where):
foundation (texts, settings, folder layout, ledger, workbook parts) → reading (reader, roster, model,
rules, assess) → the pass and the write-back (pipeline, writer) → delivery (mail, chat groups, health,
the decision page) → jobs (check, daily, weekly, review, archive, templates, init/new) → entry points.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(importlib.util.find_spec("coordxl").origin).parent
REPO = PACKAGE.parent

LAYERS = {
    0: {"errors", "platform_support", "runlog", "messages", "schema", "normalize", "calendar", "holiday_notice", "xlsxparts", "xlsxout", "lock", "settings",
        "store", "layout", "findings", "statefolder", "platforms", "ics"},
    1: {"reader", "roster", "audience", "model", "rules", "assess", "reply_parse"},
    2: {"pipeline", "writer"},
    3: {"notify", "channels", "delivery", "health", "decisions", "meeting", "imap"},
    4: {"check", "daily", "summary", "review", "archive", "templates", "folder", "example", "render", "replies"},
    5: {"cli", "scheduler", "install", "doctor", "demo", "__main__", "__init__"},
}
LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}


def imports(path: Path) -> set[str]:
    """The coordxl modules a module imports, at its top or inside a function alike."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:  # `from . import x`: the module x, or a name of the package itself (__version__)
                out.update(a.name if (path.parent / f"{a.name}.py").exists() else "__init__" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("coordxl."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("coordxl."))
    return out


def graph() -> dict[str, set[str]]:
    return {path.stem: imports(path) - {path.stem} for path in PACKAGE.glob("*.py")}


def test_every_module_has_a_layer():
    assert set(graph()) == set(LAYER_OF), "a new module: give it its layer here and in docs/development.md"


def test_no_module_imports_one_from_a_higher_layer():
    upward = [(m, d) for m, deps in graph().items() for d in deps if LAYER_OF[d] > LAYER_OF[m]]
    assert upward == []


def test_the_imports_have_no_cycle_even_through_imports_inside_functions():
    g = graph()
    state: dict[str, int] = {}  # 1 on the path, 2 done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(g[module]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(g):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules that import each other (inside a function) are caught."""
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("from .a import f\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert graph() == {"a": {"b"}, "b": {"a"}}
    with pytest.raises(AssertionError):
        test_the_imports_have_no_cycle_even_through_imports_inside_functions()


def test_the_code_is_lint_clean():
    """ruff with the project's settings (pyproject.toml), as a reviewer would run it."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        if __import__("os").environ.get("CI"):
            pytest.fail("ruff is a test dependency: pip install -e '.[test]'")
        pytest.skip("ruff is not installed")
    out = subprocess.run([ruff, "check", "--output-format", "concise", "coordxl", "tests", "benchmarks", "jobs"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]


def test_a_chat_platform_is_named_only_in_its_entry_and_every_entry_has_a_fake_robot():
    """A new platform is one entry of platforms.PLATFORMS plus its fake: no other module branches on its name."""
    sys.path.insert(0, str(REPO / "tests"))
    from robot_fakes import Robot

    from coordxl.platforms import PLATFORMS

    named = sorted((path.name, node.lineno) for path in PACKAGE.glob("*.py") if path.name != "platforms.py"
                   for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(node, ast.Constant) and node.value in PLATFORMS)
    assert named == []
    assert set(Robot.LIMITS) == set(PLATFORMS)
