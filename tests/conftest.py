"""Shared fixtures: the example folder in tmp_path, a structure dump of workbooks, LibreOffice."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "workbooks" / "example"
TEMPLATES = REPO / "workbooks" / "templates"


@pytest.fixture
def example_root(tmp_path) -> Path:
    """A private copy of the bundled example folder."""
    root = tmp_path / "share"
    shutil.copytree(EXAMPLE, root)
    return root


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
