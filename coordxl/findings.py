"""Findings are values: a stable code, a severity, where (workbook, sheet, A1 cell), what to do, and
the values the message was made from (``params``: what a report or ``check --json`` reads, never re-derives).

>>> f = finding("F-REQUIRED", "a.xlsx", sheet="执行进度", cell="E7", field="负责人")
>>> f.code, f.severity, f.message("zh"), f.values("zh")
('F-REQUIRED', 'error', '必填项“负责人”为空', {'field': '负责人'})
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field
from typing import Any

from .messages import MESSAGES

ERROR = "error"
WARNING = "warning"

# code -> severity. The codes are a contract: reports, mails and tests key on them.
CODES: dict[str, str] = {
    "W-UNREADABLE": ERROR,
    "W-LEGACY": WARNING,
    "W-MISSING-SHEET": ERROR,
    "W-HEADER": ERROR,
    "W-HEADER-DUPLICATE": WARNING,
    "W-LOCKED": WARNING,
    "W-CHANGED": WARNING,
    "W-LOSSY": ERROR,
    "W-READONLY": WARNING,
    "W-PERMISSION": WARNING,
    "W-CALENDAR": WARNING,
    "W-CHANNEL": WARNING,
    "W-FORMULA": WARNING,
    "W-FLAG-EDITED": WARNING,
    "W-DUPLICATE-SHEET": WARNING,
    "W-DUPLICATE-ITEM": WARNING,
    "F-REQUIRED": ERROR,
    "F-DATE": ERROR,
    "F-ENUM": ERROR,
    "F-NUMBER": ERROR,
    "F-PERSON": ERROR,
    "F-PERSON-AMBIGUOUS": ERROR,
    "F-DEPT": ERROR,
    "F-EMAIL": ERROR,
    "F-DATE-ORDER": ERROR,
    "F-DONE-DATE": ERROR,
    "F-DUPLICATE-ID": ERROR,
    "F-YEAR-GUESSED": WARNING,
    "F-DATE-MOVED": WARNING,
    "R-NOTICE": WARNING,
    "R-MATERIALS": WARNING,
    "R-MEETING-LENGTH": WARNING,
    "R-MINUTES-24H": WARNING,
    "R-ACTION-INCOMPLETE": ERROR,
    "R-BREAKDOWN": WARNING,
    "R-FOLLOWUP": WARNING,
    "R-RESOURCE-REVIEW": ERROR,
    "R-CLOSE": ERROR,
    "R-RETRO": ERROR,
}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _format(template: str, params: dict) -> str:
    return string.Formatter().vformat(template, (), _Blank(params))


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    workbook: str
    sheet: str
    cell: str
    message_zh: str
    message_en: str
    hint_zh: str = ""
    hint_en: str = ""
    # (name, value) the texts were made from; a (zh, en) pair is one value in two languages. Not part of
    # a finding's identity: two findings saying the same thing at the same cell are one.
    params: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    def message(self, lang: str = "zh") -> str:
        return self.message_zh if lang == "zh" else self.message_en

    def hint(self, lang: str = "zh") -> str:
        return self.hint_zh if lang == "zh" else self.hint_en

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def values(self, lang: str = "zh") -> dict[str, Any]:
        """The values in ``lang``, as JSON takes them: a (zh, en) pair as one text, a date as ISO text."""
        return {name: _plain(value, lang) for name, value in self.params}

    def to_json(self, lang: str = "zh") -> dict:
        out = {name: getattr(self, name) for name in ("code", "severity", "workbook", "sheet", "cell", "message_zh",
                                                      "message_en", "hint_zh", "hint_en")}
        out["message"] = self.message(lang)
        out["hint"] = self.hint(lang)
        out["params"] = self.values(lang)
        return out


def _plain(value: Any, lang: str) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0 if lang == "zh" else 1]
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v, lang) for v in value]
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def finding(code: str, workbook: str, sheet: str = "", cell: str = "", severity: str | None = None,
            hint: tuple[str, str] | None = None, variant: str = "", **params) -> Finding:
    """Build a finding from its code's message template; ``params`` fill the template.

    ``reason`` names a sub-message (``reason.<value>``) that is filled in first.
    """
    if code not in CODES:
        raise KeyError(f"unknown finding code {code}")
    if f"finding.{code}{variant}" not in MESSAGES:  # a finding must never render as an empty line
        raise KeyError(f"no message for finding.{code}{variant}")
    given = tuple(params.items())
    reason = params.pop("reason", None)
    key = (code, variant, reason, hint is None, tuple(sorted(params.items())))
    try:
        texts = _TEXTS.get(key)
    except TypeError:  # an unhashable parameter: render without the cache
        key, texts = None, None
    if texts is None:
        texts = _render(code, variant, reason, hint is None, params)
        if key is not None and len(_TEXTS) < 65536:
            _TEXTS[key] = texts
    return Finding(code, severity or CODES[code], workbook, sheet, cell, *texts, *(hint or ()), params=given)


# The same problem turns up in many cells (a date in the future in 5,000 rows): render its texts once.
_TEXTS: dict[tuple, tuple[str, ...]] = {}


def _render(code: str, variant: str, reason: str | None, with_hint: bool, params: dict) -> tuple[str, ...]:
    def render(template_key: str, i: int) -> str:
        local = {k: (v[i] if isinstance(v, tuple) else v) for k, v in params.items()}
        if reason:  # a reason's own text may name parameters too ("coordxl does not read {ext} files")
            local["reason"] = _format(MESSAGES[f"reason.{reason}"][i], local)
        return _format(MESSAGES.get(template_key, ("", ""))[i], local).strip()

    texts = (render(f"finding.{code}{variant}", 0), render(f"finding.{code}{variant}", 1))
    fix = f"fix.{code}.{reason}" if reason and f"fix.{code}.{reason}" in MESSAGES else f"fix.{code}"
    return texts + ((render(fix, 0), render(fix, 1)) if with_hint else ())


def sort_key(f: Finding) -> tuple:
    return (f.workbook, 0 if f.is_error else 1, f.sheet, _cell_order(f.cell), f.code)


def _cell_order(cell: str) -> tuple[int, str]:
    digits = "".join(ch for ch in cell if ch.isdigit())
    letters = "".join(ch for ch in cell if ch.isalpha())
    return (int(digits) if digits else 0, letters.rjust(3))
