"""What the operator reads (issue 13): words instead of dicts, Telegram set-up named, progress
lines off a terminal and --quiet."""

from __future__ import annotations

import pytest

from cli.cmd_stages import repaired_words
from pipeline.config import from_dict
from pipeline.read.status import telegram_setup


def test_reconcile_repairs_are_words():
    assert repaired_words({"fills": 2, "orders": 1, "matched": 0, "missing": 0}) == \
        "recorded 2 missed fills, updated 1 order state"
    assert repaired_words({"fills": 0, "orders": 0, "matched": 0, "missing": 0}) == "nothing to repair"
    assert "{" not in repaired_words({"fills": 0, "orders": 0, "matched": 1, "missing": 3})


def test_telegram_setup_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("QTX_T", raising=False)
    s = from_dict({"telegram": {"token_env": "QTX_T"}}, tmp_path / "qtx.yaml")
    why = telegram_setup(s)
    assert "$QTX_T unset" in why and "allowed_chat_ids" in why
    monkeypatch.setenv("QTX_T", "123:abc")
    s = from_dict({"telegram": {"token_env": "QTX_T", "allowed_chat_ids": [5]}}, tmp_path / "qtx.yaml")
    assert telegram_setup(s) is None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from pipeline.init_project import init_project

    d = tmp_path_factory.mktemp("demo")
    init_project(d, market="krx", demo=True)
    return str(d / "qtx.yaml")


def test_status_and_report_send_say_telegram_is_not_configured(demo, run_cli, monkeypatch):
    monkeypatch.delenv("QTX_TELEGRAM_TOKEN", raising=False)
    code, out, _ = run_cli(["--config", demo, "status"], env={"COLUMNS": "80"})
    assert code == 0 and "Telegram not configured" in " ".join(out.split())
    code, out, err = run_cli(["--config", demo, "report", "--send"])
    assert code == 0 and "Telegram not configured" in " ".join(err.split())


def test_replay_prints_a_line_per_date_off_a_terminal_and_quiet_silences_it(demo, run_cli):
    code, _, err = run_cli(["--config", demo, "replay", "--days", "2", "--json"])
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.startswith("replay ")]
    assert [ln.split(":")[0] for ln in lines] == ["replay 1/2", "replay 2/2"]
    code, _, err = run_cli(["--config", demo, "--quiet", "backtest", "--json"])
    assert code == 0 and "backtest " not in err
    code, _, err = run_cli(["--config", demo, "backtest", "--json"])
    assert code == 0 and "backtest 1/" in err
