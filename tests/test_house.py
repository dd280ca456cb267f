"""The shape of the code: one-way imports between layers, no cycles, lint clean.

The layers, bottom to top ("Code layout" in docs/development.md says what goes where):
foundation (texts, settings, folder layout, ledger, workbook parts) → reading (reader, roster, model,
rules, assess) → the pass and the write-back (pipeline, writer) → delivery (mail, chat groups, health,
the decision page) → jobs (check, daily, weekly, review, archive, templates, init/new) → entry points.
In packages (coordxl/state, xlsx, process, send, run between the foundation and the entry points in
coordxl/ itself), a package imports only from itself and below.
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
    2: {"pipeline", "writer", "splice", "verify", "zipcopy"},
    3: {"notify", "channels", "delivery", "health", "decisions", "meeting", "imap"},
    4: {"check", "daily", "summary", "review", "archive", "templates", "folder", "example", "render", "replies"},
    5: {"cli", "scheduler", "install", "doctor", "demo", "__main__", "__init__"},
}
LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}

# The sub-packages by layer, bottom to top ("Code layout" in docs/development.md): a module imports only from its
# own package and the ones below it. coordxl/ itself holds the foundation (below every package) and the entry points
# (above them all). So xlsx and process import nothing above them, and send never imports run.
PACKAGES = ["foundation", "state", "xlsx", "process", "send", "run", "entry"]
FOUNDATION = {"errors", "findings", "messages", "normalize", "platform_support", "platforms", "schema", "settings"}  # the modules of coordxl/ below every package; its others are the entry points
ACROSS = {("layout", "xlsxparts"): "layout names files with xlsxparts.shown"}  # the imports up a package still left, each with why


def package_of(path: Path) -> str:
    inside = path.relative_to(PACKAGE).parts
    return inside[0] if len(inside) > 1 else "foundation" if path.stem in FOUNDATION else "entry"


def modules() -> list[Path]:
    """coordxl's modules: coordxl/*.py and coordxl/<package>/*.py (a sub-package's __init__ exports nothing)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent == PACKAGE or p.name != "__init__.py")


def imports(path: Path) -> set[str]:
    """The coordxl modules a module imports, at its top or inside a function alike."""
    here = ["coordxl", *path.relative_to(PACKAGE).parent.parts]
    out = set()

    def resolve(parts: list[str], names: list[str]) -> None:
        inside = parts[1:]
        if inside and PACKAGE.joinpath(*inside).with_suffix(".py").exists():
            out.add(inside[-1])
        elif PACKAGE.joinpath(*inside).is_dir():  # `from . import x`: the module x, or a name of the package
            out.update(n if PACKAGE.joinpath(*inside, f"{n}.py").exists() else "__init__" for n in names)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[:len(here) - node.level + 1]
            resolve(base + (node.module.split(".") if node.module else []), [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "coordxl":
            resolve(node.module.split("."), [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("coordxl."):
                    resolve(a.name.split("."), [])
    return out


def graph() -> dict[str, set[str]]:
    return {path.stem: imports(path) - {path.stem} for path in modules()}


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

    named = sorted((path.name, node.lineno) for path in PACKAGE.rglob("*.py") if path.name != "platforms.py"
                   for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(node, ast.Constant) and node.value in PLATFORMS)
    assert named == []
    assert set(Robot.LIMITS) == set(PLATFORMS)


def test_every_package_is_in_the_table_and_exports_nothing():
    """A module is imported by its full name (coordxl.run.daily): a package's __init__ is its docstring alone."""
    inits = sorted(PACKAGE.glob("*/__init__.py"))
    assert {p.parent.name for p in inits} == set(PACKAGES) - {"foundation", "entry"}
    for init in inits:
        body = ast.parse(init.read_text(encoding="utf-8")).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), init


def test_no_package_imports_one_above_it():
    """xlsx and process import nothing above them, send never imports run, lazy imports included."""
    rank = {package: n for n, package in enumerate(PACKAGES)}
    where = {path.stem: package_of(path) for path in modules()}
    upward = sorted((m, d) for m, deps in graph().items() for d in deps
                    if rank[where[d]] > rank[where[m]] and (m, d) not in ACROSS)
    assert upward == []
    assert all(rank[where[d]] > rank[where[m]] for m, d in ACROSS), "an exception no longer needed: remove it"


def test_the_package_check_finds_an_import_from_above(tmp_path, monkeypatch):
    """The check above can fail: a send module that imports a run module is caught."""
    for package in ("send", "run"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('"""."""\n', encoding="utf-8")
    (tmp_path / "send" / "mailer.py").write_text("def f():\n    from ..run.job import g\n", encoding="utf-8")
    (tmp_path / "run" / "job.py").write_text("def g():\n    pass\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert graph() == {"mailer": {"job"}, "job": set()}
    with pytest.raises(AssertionError):
        test_no_package_imports_one_above_it()
