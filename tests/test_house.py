"""The shape of the code: one-way imports between layers, no cycles, lint clean.

The layers, bottom to top ("Code layout" in docs/development.md says what goes where):
foundation (texts, settings, folder layout, ledger, workbook parts) → reading (reader, roster, model,
rules, assess) → the write-back and the processes (writer, parallel) → the run and delivery (run context,
senders' wiring, the pass; mail, chat groups, health, the decision page) → jobs (the job frame, check,
daily and its flags, weekly and its workbook, review, archive, templates, init/new) → entry points.
In packages (coordxl/state, xlsx, process, send, run between the foundation and the entry points in
coordxl/ itself), a package imports only from itself and below.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(importlib.util.find_spec("coordxl").origin).parent
REPO = PACKAGE.parent

LAYERS = {
    0: {"errors", "platform_support", "runlog", "messages", "schema", "normalize", "calendar", "holiday_notice", "xlsxparts", "xlsxout", "lock", "settings",
        "store", "db", "runs", "ledger", "snapshots", "layout", "findings", "statefolder", "platforms", "ics", "meetings"},
    1: {"reader", "diagnose", "recognize", "roster", "audience", "mail_render", "model", "normalizer", "rows", "rules", "assess", "reply_parse"},
    2: {"writer", "splice", "verify", "zipcopy", "parallel"},
    3: {"notify", "notes", "digests", "channels", "delivery", "health", "decisions", "meeting", "imap", "wiring", "context", "pipeline"},
    4: {"job", "flags", "check", "daily", "weekly", "weekly_book", "review", "archive", "templates", "folder", "example", "render", "replies", "objections"},
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


def test_every_mail_body_is_rendered_by_the_one_render():
    """The digests, the weekly, the admin's list and the meeting mails: one ``mail_render.render(template,
    context, lang)``; no other module loads a template or imports Jinja."""
    def jinja(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr in ("get_template", "from_string")
        if isinstance(node, ast.Import):
            return any(a.name.startswith("jinja2") for a in node.names)
        return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jinja2")

    found = sorted((path.name, node.lineno) for path in PACKAGE.rglob("*.py") if path.name != "mail_render.py"
                   for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if jinja(node))
    assert found == []


def test_the_collector_gathers_notes_and_knows_neither_the_mail_nor_the_chat_groups():
    """The daily run's notes (send/notes.py) are what digests and boards are made from: notes.py imports
    neither the digests, the mail nor the channels; they import it."""
    deps = graph()
    assert not deps["notes"] & {"digests", "notify", "channels", "delivery", "mail_render"}
    assert {"digests", "channels"} <= {m for m, d in deps.items() if "notes" in d}


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


def _calls(name: str) -> set[str]:
    """The modules of coordxl that call a function named ``name`` (``f(...)`` or ``x.f(...)``)."""
    out = set()
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and name in (getattr(node.func, "id", None), getattr(node.func, "attr", None)):
                out.add(path.stem)
    return out


def test_mail_transports_and_robot_posters_are_wired_in_one_place_called_only_by_the_cli_and_the_scheduler():
    assert _calls("make_transport") == {"wiring"}
    assert _calls("make_posters") <= {"wiring", "channels"}  # channels.outbox_posters: the outbox ones, no secrets
    assert _calls("wire") == {"cli", "scheduler"}


def test_the_daily_job_reads_as_its_steps_each_taking_the_context_the_result_and_at_most_one_more():
    from coordxl.run import daily

    steps = ["get_ready", "check_and_flag", "remind", "post", "tell_admins", "keep_history"]
    body = ast.unparse(next(n for n in ast.parse(Path(daily.__file__).read_text(encoding="utf-8")).body
                            if getattr(n, "name", "") == "daily"))
    assert [s for s in steps if f"{s}(ctx, result" in body] == steps  # in this order, in daily()
    assert [body.index(f"{s}(ctx") for s in steps] == sorted(body.index(f"{s}(ctx") for s in steps)
    for step in steps:
        params = list(inspect.signature(getattr(daily, step)).parameters)
        assert params[:2] == ["ctx", "result"] and len(params) <= 3, (step, params)


def test_no_function_of_the_jobs_frame_and_steps_is_over_80_lines():
    """The run context, the job frame, the pools, the flags, daily and the weekly: each function fits a screen."""
    long = []
    for name in ("context", "job", "parallel", "flags", "pipeline", "check", "daily", "weekly", "weekly_book", "archive"):
        path = PACKAGE / "run" / f"{name}.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 80:
                long.append((name, node.name, node.end_lineno - node.lineno + 1))
    assert long == []
