import json
import re

import pytest
from conftest import REPO

from coordxl.errors import ConfigError
from coordxl.settings import SETTINGS, Settings, render_config


def test_every_setting_is_documented_exactly_once_in_the_settings_table():
    """One row per setting in docs/settings.md, with its default, and no second row anywhere else."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    counts = {s.name: 0 for s in SETTINGS}
    for page in pages:
        for line in page.read_text(encoding="utf-8").splitlines():
            if m := re.match(r"\| `([a-z_]+\.[a-z_]+)` \|", line):
                assert m.group(1) in counts, f"{page.name} documents an unknown setting: {line}"
                assert page.name == "settings.md", f"a setting's row outside docs/settings.md: {line}"
                counts[m.group(1)] += 1
    assert counts == {s.name: 1 for s in SETTINGS}
    table = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    for s in SETTINGS:
        default = json.dumps(s.default, ensure_ascii=False) if not isinstance(s.default, bool) else str(s.default).lower()
        assert f"| `{s.name}` | `{default}` |" in table


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_generated_config_round_trips_with_every_help_line(lang):
    text = render_config(lang)
    settings = Settings.from_toml(text)
    for s in SETTINGS:
        assert settings[s.name] == s.default
        assert f"# {s.help_zh if lang == 'zh' else s.help_en}\n{s.key} = " in text


def test_email_section_has_exactly_the_design_keys():
    keys = [s.key for s in SETTINGS if s.section == "email"]
    # DESIGN §6's keys, then what the fault review asked for: ca_file (a company CA for TLS verification)
    # and the two timeouts (commands; the answer after the message, RFC 5321's 10 minutes)
    assert keys == ["transport", "sender", "host", "port", "security", "user", "password_env", "allowed_domains",
                    "ca_file", "timeout_seconds", "data_timeout_seconds"]
    assert Settings.defaults()["email.transport"] == "outbox"


def test_seed_thresholds_are_the_defaults():
    s = Settings.defaults()
    assert (s["rules.notice_workdays"], s["rules.meeting_max_minutes"], s["rules.minutes_max_hours"],
            s["rules.followup_max_minutes"], s["reminders.lead_workdays"]) == (2, 90, 24, 30, [3, 1])


@pytest.mark.parametrize("toml,message", [
    ('[rules]\nmeeting_max_minute = 60\n', "did you mean 'rules.meeting_max_minutes'"),
    ('[rules]\nmeeting_max_minutes = "sixty"\n', "should look like 90"),
    ('[email]\ntransport = "pigeon"\n', "must be one of outbox, smtp"),
    ('[rules\n', "not valid TOML"),
    ('language = "en"\n', "must be a [section]"),
])
def test_bad_config_is_a_clear_config_error_in_the_folder_s_language(toml, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_toml('[general]\nlanguage = "en"\n' + toml if toml.startswith("[") else toml)


@pytest.mark.parametrize("toml,message", [
    ('[rules]\nmeeting_max_minute = 60\n', "是否想写“rules.meeting_max_minutes”"),
    ('[rules]\nmeeting_max_minutes = "sixty"\n', "应写成 90 这样"),
    ('[email]\ntransport = "pigeon"\n', "只能是 outbox, smtp 之一"),
    ('[rules\n', "不是有效的 TOML"),
])
def test_bad_config_is_said_in_chinese_by_default(toml, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_toml(toml)


def test_a_setting_can_be_overridden_and_others_keep_defaults():
    s = Settings.from_toml('[rules]\nstale_workdays = 3\n[calendar]\nextra_holidays = ["2026-12-31"]\n')
    assert s["rules.stale_workdays"] == 3 and s["calendar.extra_holidays"] == ["2026-12-31"]
    assert s["rules.meeting_max_minutes"] == 90
