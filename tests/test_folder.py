"""`coordxl init` and `coordxl new`, end to end through the CLI."""

import datetime as dt
import subprocess
import sys

import openpyxl
import pytest
import python_calamine
from click.testing import CliRunner
from conftest import sha256, tree_hashes

from coordxl import schema
from coordxl.cli import main
from coordxl.state.layout import safe_filename
from coordxl.xlsx.reader import read_workbook


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def share(tmp_path):
    root = tmp_path / "协调"
    result = run("init", root)
    assert result.exit_code == 0, result.output
    return root


def test_init_makes_the_shared_folder(share):
    for name in ("coordxl.toml", "名册.xlsx", "模板/协调事项模板.xlsx", "模板/名册模板.xlsx"):
        assert (share / name).is_file(), name
    for name in ("进行中", "归档", "报告", ".coordxl"):
        assert (share / name).is_dir(), name
    roster = read_workbook(share / "名册.xlsx", schema.ROSTER_SHEETS, 2**30)
    names = [r.get("name") for r in roster.first("people").tables["people"].records]
    assert "张伟" in names and len(names) >= 5


def test_init_refuses_to_overwrite_and_changes_nothing(share):
    before = tree_hashes(share)
    result = run("init", share)
    assert result.exit_code == 2
    assert "--force" in result.output and "coordxl.toml" in result.output
    assert tree_hashes(share) == before


def test_init_force_keeps_the_settings_and_roster_and_backs_up_the_templates_it_re_creates(share):
    roster_hash = sha256(share / "名册.xlsx")
    (share / "coordxl.toml").write_text('[rules]\nstale_workdays = 3\n', encoding="utf-8")
    (share / "模板" / "名册模板.xlsx").unlink()
    (share / "模板" / "协调事项模板.xlsx").write_bytes(b"an old template")
    result = run("init", share, "--force")
    assert result.exit_code == 0, result.output
    assert sha256(share / "名册.xlsx") == roster_hash
    assert (share / "coordxl.toml").read_text(encoding="utf-8") == '[rules]\nstale_workdays = 3\n'
    assert (share / "模板" / "名册模板.xlsx").is_file()  # what was missing is made again
    backups = list((share / ".coordxl" / "backups").rglob("协调事项模板.xlsx"))
    assert backups and backups[0].read_bytes() == b"an old template"


def test_init_force_in_another_language_never_orphans_a_live_folder(share):
    """`init --force --lang en` on a Chinese folder with items would point every job at empty English
    folders: refused in one line that says how to migrate, nothing changed."""
    assert run("new", "Q3新品上市推广", "--root", share, "--initiator", "张伟").exit_code == 0
    before = tree_hashes(share)
    result = run("init", share, "--force", "--lang", "en")
    assert result.exit_code == 2 and "1 个事项工作簿" in result.output and "general.language" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert tree_hashes(share) == before
    assert "检查了 1 个工作簿" in run("check", share, "--no-report").output


def test_new_creates_a_prefilled_workbook(share):
    result = run("new", "Q3新品上市推广", "--root", share, "--initiator", "张伟", "--today", "2026-07-06")
    assert result.exit_code == 0, result.output
    path = share / "进行中" / "Q3新品上市推广.xlsx"
    data = read_workbook(path, schema.ITEM_SHEETS, 2**30)
    form = data.first("request").form
    assert form.get("topic") == "Q3新品上市推广"
    assert form.get("initiator") == "张伟"
    assert form.get("initiating_department") == "市场部"
    assert form.get("sent_on") == dt.date(2026, 7, 6)
    assert form.get("item_status") == "筹备中"
    # the drop-downs list the roster's departments and people
    wb = openpyxl.load_workbook(path)
    lists = wb["列表"]
    assert {c.value for c in lists["A"]} >= {"市场部", "产品部", "销售部", "设计部"}
    assert {c.value for c in lists["B"]} >= {"张伟", "陈静", "孙丽"}
    assert python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names[0] == "需求单"


def test_new_refuses_an_unknown_initiator_with_a_suggestion(share):
    result = run("new", "X", "--root", share, "--initiator", "陈晶")
    assert result.exit_code == 2
    assert "陈静" in result.output and "Traceback" not in result.output
    assert list((share / "进行中").iterdir()) == []


def test_new_never_overwrites(share):
    assert run("new", "推广", "--root", share, "--initiator", "张伟").exit_code == 0
    path = share / "进行中" / "推广.xlsx"
    before = sha256(path)
    result = run("new", "推广", "--root", share, "--initiator", "李娜")
    assert result.exit_code == 2 and "推广.xlsx" in result.output
    assert sha256(path) == before


def test_new_sanitizes_titles(share):
    result = run("new", 'Q3/Q4: "推广"?', "--root", share, "--initiator", "张伟")
    assert result.exit_code == 0, result.output
    [made] = (share / "进行中").iterdir()
    assert made.name == "Q3_Q4_ _推广__.xlsx"
    form = read_workbook(made, schema.ITEM_SHEETS, 2**30).first("request").form
    assert form.get("topic") == 'Q3/Q4: "推广"?'


@pytest.mark.parametrize("title,expected", [
    ("CON", "_CON"), ("a<b>c", "a_b_c"), ("  ..点. ", "点"), ("x" * 200, "x" * 80), ("tab\there", "tab_here"),
])
def test_safe_filename(title, expected):
    assert safe_filename(title) == expected


@pytest.mark.libreoffice
def test_libreoffice_opens_a_new_workbook(share, soffice):
    assert run("new", "Q3新品上市推广", "--root", share, "--initiator", "张伟").exit_code == 0
    soffice(share / "进行中" / "Q3新品上市推广.xlsx")


def test_python_m_coordxl_and_help_with_examples():
    out = subprocess.run([sys.executable, "-m", "coordxl", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "init" in out.stdout
    from coordxl.messages import text
    for command in main.commands.values():  # in both languages, from the message table
        assert command.help_key and "Example: coordxl" in text(command.help_key, "en"), command.name
        assert "示例：coordxl" in text(command.help_key, "zh"), command.name


def test_a_new_item_only_asks_for_what_the_initiator_must_fill_in(share):
    from coordxl.run.check import run_check
    assert run("new", "官网改版", "--root", share, "--initiator", "张伟", "--today", "2026-08-20").exit_code == 0
    report = run_check(share, dt.date(2026, 8, 20))
    # the request form's blanks, nothing about a meeting that has not happened yet
    assert {(f.code, f.sheet) for f in report.findings} == {("F-REQUIRED", "需求单")}
    assert {f.cell for f in report.findings} == {"B5", "B6", "B7", "B8", "B12"}


def test_an_english_folder_has_english_names_and_templates(tmp_path):
    root = tmp_path / "share"
    assert run("init", root, "--lang", "en").exit_code == 0
    for name in ("coordxl.toml", "roster.xlsx", "templates/coordination-item-template.xlsx", "active", "archive",
                 "reports"):
        assert (root / name).exists(), name
    assert run("new", "Website revamp", "--root", root, "--initiator", "张伟").exit_code == 0
    wb = openpyxl.load_workbook(root / "active" / "Website revamp.xlsx")
    assert wb.sheetnames[:3] == ["Request", "Minutes", "Tracker"]
    assert wb["Tracker"]["M2"].value == "Alert"
