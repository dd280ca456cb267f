"""Shared fixtures: the example folder in tmp_path, a structure dump of workbooks, LibreOffice."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import email
import hashlib
import io
import os
import re
import shutil
import socket
import subprocess
import zipfile
from email import policy
from pathlib import Path

import openpyxl
import pytest
from aiosmtpd.controller import Controller

from coordxl.run import example as ex

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "workbooks" / "example"
TEMPLATES = REPO / "workbooks" / "templates"


@pytest.fixture
def example_root(tmp_path) -> Path:
    """A private copy of the bundled example folder."""
    root = tmp_path / "share"
    shutil.copytree(EXAMPLE, root)
    return root


def rewrite_part(src: Path, dst: Path, part: str, change) -> None:
    """Copy a workbook (``src`` may be ``dst``) with one zip part's bytes passed through ``change``."""
    data = Path(src).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            content = zin.read(info)
            zout.writestr(info, change(content) if info.filename == part else content)


def another_item(src: Path, dst: Path) -> Path:
    """A copy of an example item workbook that is another item: its request form's topic (需求单!B2)
    starts with the new file's name, so it is no copy of ``src`` (W-DUPLICATE-ITEM)."""
    name = Path(dst).stem.encode("ascii", "xmlcharrefreplace")
    rewrite_part(src, dst, "xl/worksheets/sheet1.xml",
                 lambda xml: re.sub(rb'(<c r="B2"[^>]*><is><t>)', lambda m: m.group(1) + name, xml, count=1))
    return Path(dst)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p) for p in sorted(Path(root).rglob("*")) if p.is_file()}


def structure(path: Path) -> dict:
    """What a template promises staff: sheets, cell values, drop-downs, colouring, names, print setup."""
    wb = openpyxl.load_workbook(path)
    out = {"names": sorted((n, d.attr_text) for n, d in wb.defined_names.items()), "sheets": {}}
    for ws in wb.worksheets:
        out["sheets"][ws.title] = {
            "state": ws.sheet_state,
            "cells": {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None},
            "validations": sorted((str(dv.sqref), dv.type, dv.formula1, dv.prompt)
                                  for dv in ws.data_validations.dataValidation),
            "conditional": sorted((str(rng.sqref), tuple(r.formula)) for rng in ws.conditional_formatting
                                  for r in rng.rules),
            "freeze": ws.freeze_panes,
            "orientation": ws.page_setup.orientation,
            "paper": ws.page_setup.paperSize,
            "formats": sorted({(c.column_letter, c.number_format) for row in ws.iter_rows() for c in row
                               if c.number_format != "General"}),
        }
    return out


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture(scope="session")
def soffice(tmp_path_factory):
    """Convert a workbook to PDF with LibreOffice; skipped when it is not installed (never on CI)."""
    exe = _soffice()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice is required on CI (.ci/run installs it)")
        pytest.skip("LibreOffice not installed")
    profile = tmp_path_factory.mktemp("lo-profile")

    def convert(path: Path, to: str = "pdf") -> Path:
        outdir = tmp_path_factory.mktemp("lo-out")
        proc = subprocess.run(
            [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", to, "--outdir", str(outdir), str(path)],
            capture_output=True, text=True, timeout=180)
        produced = list(outdir.glob(f"*.{to.split(':')[0]}"))
        assert proc.returncode == 0 and produced, f"LibreOffice could not open {path}: {proc.stderr}"
        return produced[0]

    return convert


# --- building item workbooks for rule tests -------------------------------------------------




def clean_launch() -> dict:
    """The example's launch item with every planted mistake fixed: it must produce no findings."""
    d = dict(topic=ex.LAUNCH, request=copy.deepcopy(ex.LAUNCH_REQUEST), minutes=copy.deepcopy(ex.LAUNCH_MINUTES),
             actions=copy.deepcopy(ex.LAUNCH_ACTIONS), tasks=copy.deepcopy(ex.LAUNCH_TASKS),
             followups=copy.deepcopy(ex.LAUNCH_FOLLOWUPS), resources=copy.deepcopy(ex.LAUNCH_RESOURCES),
             retro=None, metrics=[], measures=[])
    d["tasks"][7]["owner"] = "刘洋"
    d["tasks"][10]["start"] = dt.date(2026, 8, 24)
    d["actions"][4]["standard"] = "培训课件与考核题"
    d["minutes"]["minutes_sent"] = dt.datetime(2026, 7, 9, 10, 0)
    d["followups"][4]["end"] = dt.time(16, 30)
    d["resources"][2].update(review="passed", reviewed_on=dt.date(2026, 8, 11))
    d["request"].pop("group", None)  # a folder whose settings name no chat group must not warn about it
    return d


def write_item(root: Path, d: dict, name: str | None = None) -> Path:
    """An item workbook under 进行中/; one written under another ``name`` is another item: its request
    form's topic is that name (the same topic and initiator twice would make it a copy, W-DUPLICATE-ITEM)."""
    request = dict(d["request"], topic=name) if name and "topic" in d["request"] else d["request"]
    wb = ex._item(d["topic"], request, d["minutes"], d["actions"], d["tasks"], d["followups"],
                  d["resources"], d["retro"], d["metrics"], d["measures"])
    path = root / "进行中" / f"{name or d['topic']}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@pytest.fixture
def share_with_roster(tmp_path) -> Path:
    """A shared folder holding only the example's settings and roster."""
    root = tmp_path / "share"
    (root / "进行中").mkdir(parents=True)
    shutil.copy(EXAMPLE / "coordxl.toml", root / "coordxl.toml")
    shutil.copy(EXAMPLE / "名册.xlsx", root / "名册.xlsx")
    return root


@pytest.fixture
def soffice_optional(request):
    """LibreOffice's converter when it is installed, else a no-op (the dedicated tests require it)."""
    if _soffice() is None and not os.environ.get("CI"):
        return lambda path, to="pdf": None
    return request.getfixturevalue("soffice")


@pytest.fixture(autouse=True)
def patched_sheets_follow_the_schema(monkeypatch):
    """Every worksheet the write-back patches, in every test, must still validate against ECMA-376's
    sml.xsd wherever the sheet did before (a patch never adds a schema violation)."""
    from ooxml_schema import errors

    from coordxl.xlsx import writer

    patch = writer.patch_sheet_xml

    def checked(xml, *args, **kwargs):
        out = patch(xml, *args, **kwargs)
        before, after = errors(xml), errors(out)
        assert not after or before, f"the patched sheet breaks ECMA-376 sml.xsd: {after[:3]}"
        assert len(after) <= len(before), f"the patch added schema violations: {after[:3]}"
        return out

    monkeypatch.setattr(writer, "patch_sheet_xml", checked)


# --- the fast lane: `pytest -m "not slow"` leaves out what starts LibreOffice or a mail server ------

SLOW_FIXTURES = ("soffice", "dovecot")  # each starts a server of its own: LibreOffice, Dovecot


def pytest_collection_modifyitems(config, items):
    """A test that converts a workbook with LibreOffice (the ``soffice`` fixture or the ``libreoffice``
    mark) or talks to a real Dovecot (the ``dovecot`` fixture) is ``slow``: each starts and stops a server
    of its own, seconds apiece. Tests that build a wheel or read a 100k-row workbook say ``slow`` themselves.
    `.ci/run` runs every test."""
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in SLOW_FIXTURES) or item.get_closest_marker("libreoffice"):
            item.add_marker(pytest.mark.slow)


# --- a real SMTP server on 127.0.0.1 (aiosmtpd) -------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """An SMTP handler that keeps what it received and can misbehave on request."""

    def __init__(self):
        self.messages = []
        self.refuse = set()
        self.hang_up_after = None
        self.delay = 0.0
        self.slow_once = 0.0  # the next message only is answered this late

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:  # a set (refused for good) or address -> reply
            return self.refuse[address] if isinstance(self.refuse, dict) else "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.slow_once:  # stores the message first, as a real server's queue does, then answers late
            wait, self.slow_once = self.slow_once, 0.0
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.original_content, policy=policy.default)))
            await asyncio.sleep(wait)
            return "250 Message accepted"
        if self.hang_up_after is not None and len(self.messages) >= self.hang_up_after:
            self.hang_up_after = None
            session.transport.close()
            return "421 closing"
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted"

    def to(self):
        return sorted(rcpts[0] for rcpts, _ in self.messages)


@pytest.fixture
def smtp():
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()
