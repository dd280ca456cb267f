"""What an administrator installs: the version they can ask for, dependencies that are all used, the
optional keyring named wherever it is recommended, the license and the upgrade notes."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from click.testing import CliRunner

import coordxl
from coordxl.cli import main
from coordxl.messages import MESSAGES
from coordxl.settings import CHANNELS_HELP

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# declared for another package's sake, never imported by coordxl itself
NEEDED_BY_ANOTHER = {"pytz": "schedule's .at(time, zone)", "tzdata": "zoneinfo on Windows",
                     "defusedxml": "openpyxl's XML-bomb guard"}
COMES_WITH = {"markupsafe": "jinja2"}  # imported, and always installed by the dependency named


def dist_name(requirement: str) -> str:
    return re.split(r"[<>=;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def imported_distributions() -> set[str]:
    """The distributions whose modules coordxl imports (at the top or inside a function)."""
    modules = set()
    for path in (REPO / "coordxl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    owners = packages_distributions()
    return {d.lower().replace("_", "-") for m in modules - set(sys.stdlib_module_names) - {"coordxl"}
            for d in owners.get(m, [m])}


def test_version_is_the_project_s():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and PROJECT["version"] in result.output
    assert coordxl.__version__ == PROJECT["version"]


def test_every_declared_dependency_is_imported_and_every_import_declared():
    """A dependency nobody imports (pandas was 157 MB) fails here, as does an import nobody declared."""
    declared = {dist_name(r) for r in PROJECT["dependencies"]}
    optional = {dist_name(r) for r in PROJECT["optional-dependencies"]["keyring"]}
    imported = imported_distributions()
    assert declared - imported - set(NEEDED_BY_ANOTHER) == set()
    assert imported - declared - optional - set(COMES_WITH) == set()
    assert set(COMES_WITH.values()) <= declared
    assert "pandas" not in declared


def test_tzdata_is_a_dependency_on_windows_only():
    [tzdata] = [r for r in PROJECT["dependencies"] if dist_name(r) == "tzdata"]
    assert tzdata.replace('"', "'").endswith("sys_platform == 'win32'")


def test_every_text_recommending_keyring_says_how_to_install_it():
    texts = [t for pair in MESSAGES.values() for t in pair] + list(CHANNELS_HELP.values())
    recommending = [t for t in texts if "keyring set" in t]
    assert recommending and all('pip install "coordxl[keyring]"' in t for t in recommending)


def test_the_license_and_the_upgrade_notes_ship():
    assert "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {PROJECT['version']}" in changelog and "Upgrade notes" in changelog


# --- administrators' errors in the folder's language --------------------------------------------

ERRORS = {"CoordxlError", "ConfigError", "FolderError", "RosterError", "StateError", "LockHeld", "ArchiveRefused"}
PENDING: dict[str, int] = {}  # raises still English-only, per module


def english_only_raises() -> dict[str, int]:
    """Per module, how many coordxl errors are raised with an English literal instead of a message key."""
    found: dict[str, int] = {}
    for path in sorted((REPO / "coordxl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
            first = node.exc.args[0] if node.exc.args else None
            if name in ERRORS and isinstance(first, (ast.JoinedStr, ast.Constant)):
                found[path.name] = found.get(path.name, 0) + 1
    return found


def test_no_error_an_administrator_meets_is_raised_in_english_only():
    """Each comes from the message table (a key and its values), so a Chinese folder reads it in Chinese."""
    assert english_only_raises() == PENDING


def test_a_lock_held_and_a_state_folder_that_is_a_file_are_said_in_the_folder_s_language(example_root):
    from coordxl.state.lock import FolderLock

    held = FolderLock(example_root / ".coordxl", "scheduler.lock")
    held.acquire("scheduler")
    try:
        result = CliRunner().invoke(main, ["schedule", str(example_root)])
    finally:
        held.release()
    assert result.exit_code == 2 and "另一个 coordxl 运行（scheduler）正在处理此文件夹" in result.output
    (example_root / ".coordxl").rename(example_root / "moved")
    (example_root / ".coordxl").write_text("not a folder", encoding="utf-8")
    status = CliRunner().invoke(main, ["status", str(example_root)])
    assert status.exit_code == 2 and "是一个文件而不是文件夹" in status.output, status.output
    config = example_root / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('language = "zh"', 'language = "en"'), encoding="utf-8")
    english = CliRunner().invoke(main, ["status", str(example_root)])
    assert english.exit_code == 2 and "is a file, not a folder" in english.output


@pytest.mark.slow
def test_the_wheel_alone_runs_every_job(tmp_path, example_root):
    """What `pip install coordxl` installs (the wheel: no jobs/, no checkout) runs check, daily, weekly,
    review and status, mail templates included."""
    import zipfile

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(REPO)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("coordxl-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    assert not [n for n in names if n.startswith("jobs/")] and "coordxl/mail/digest.html" in names
    run = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import coordxl; "
           "assert coordxl.__file__.startswith(sys.argv[1]), coordxl.__file__; "
           "from coordxl.cli import main; main(sys.argv[2:], prog_name='coordxl')")
    for args in (["check", example_root, "--today", "2026-08-20"], ["daily", example_root, "--today", "2026-08-20"],
                 ["weekly", example_root, "--today", "2026-08-24"], ["review", example_root, "Q3新品上市推广"],
                 ["status", example_root]):
        done = subprocess.run([sys.executable, "-c", run, str(site), str(site)] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode in (0, 1), (args, done.stdout, done.stderr)  # check: 1 for the example's errors
        assert "Traceback" not in done.stderr
    assert list((example_root / ".coordxl" / "outbox").glob("*/*.eml"))
    assert list((example_root / "报告").glob("周报-*.xlsx")) and list((example_root / "报告").glob("复盘草稿-*.xlsx"))
