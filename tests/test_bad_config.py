"""Issue 13, bad input: a config file that is no config, and config errors found when it loads
for every command (exit 2 naming file, key and value; nothing stored changed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import contents, db_of, one_line_error, ws_fixture  # noqa: F401 - ws_fixture: the fixture ws

# --------------------------------------------------------------------------- the config

@pytest.mark.parametrize("make,culprit", [
    (lambda ws: ws, "is a folder"),
    # An empty config means every default (test_config): here the default database beside it
    # does not exist, and the message says so instead of a traceback.
    (lambda ws: (ws / "e" / "empty.yaml", (ws / "e").mkdir(), (ws / "e" / "empty.yaml").write_text(""))[0],
     "does not exist (run `qtx init`)"),
    (lambda ws: (ws / "bin.yaml", (ws / "bin.yaml").write_bytes(b"\xff\xfe\x00bad"))[0], "not a text file"),
], ids=["folder", "empty", "binary"])
@pytest.mark.parametrize("command", [["status"], ["signal"], ["backtest"], ["positions"]], ids=lambda c: c[0])
def test_a_config_that_is_not_a_config_file_is_exit_2(ws, run_cli, make, culprit, command):
    cfg = make(ws)
    before = contents(db_of(ws))
    code, _, stderr = run_cli(["--config", cfg, *command])
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert (str(cfg) in stderr or str(cfg.parent) in stderr) and culprit in stderr
    assert contents(db_of(ws)) == before


@pytest.mark.parametrize("yaml_text,key,culprit", [
    ("calendar: {extra_holidays: ['2022-13-01']}\n", "calendar.extra_holidays", "2022-13-01"),
    ("calendar: {extra_holidays: [yesterday]}\n", "calendar.extra_holidays", "yesterday"),
    ("calendar: {extra_holidays: '2024-01-02'}\n", "calendar.extra_holidays", "list"),
    ("calendar: {late_open: {'2026-02-30': '10:00'}}\n", "calendar.late_open", "2026-02-30"),
    ("calendar: {late_open: {'2026-11-19': '25:00'}}\n", "calendar.late_open", "25:00"),
    ("calendar: {late_open: {'2026-11-19': soon}}\n", "calendar.late_open", "soon"),
    ("telegram: {base_url: 'localhost:8081'}\n", "telegram.base_url", "localhost:8081"),
    ("kiwoom: {endpoint: 'mockapi.kiwoom.com'}\n", "kiwoom.endpoint", "mockapi.kiwoom.com"),
    ("telegram: {watch_stages: [colect]}\n", "telegram.watch_stages", "colect"),
    ("bybit: {interval: '1d'}\n", "bybit.interval", "1d"),
])
@pytest.mark.parametrize("command", [["status"], ["collect", "--source", "csv", "--path", "CSV_DIR"],
                                     ["backtest"], ["positions"]], ids=lambda c: c[0])
def test_config_errors_are_found_when_it_loads_for_every_command(ws, run_cli, yaml_text, key,
                                                                  culprit, command):
    cfg = ws / "qtx.yaml"
    _override(cfg, yaml_text)
    before = contents(db_of(ws))
    args = [a if a != "CSV_DIR" else str(ws / "csv") for a in command]
    code, _, stderr = run_cli(["--config", cfg, *args])
    assert code == 2, stderr
    line = one_line_error(stderr)
    assert f"{key}:" in line and culprit in line and "qtx.yaml" in line
    assert contents(db_of(ws)) == before


def _override(cfg: Path, yaml_text: str) -> None:
    """Merge one section into the commented config ``qtx init`` wrote."""
    import yaml

    data = yaml.safe_load(cfg.read_text())
    for section, value in yaml.safe_load(yaml_text).items():
        data[section] = {**(data.get(section) or {}), **value}
    cfg.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_a_late_open_written_unquoted_is_read_as_the_time_it_says(tmp_path):
    from pipeline.config import load

    cfg = tmp_path / "q.yaml"
    cfg.write_text("calendar:\n  late_open: {2026-11-19: 10:00}\n  extra_holidays: [2026-12-31]\n")
    s = load(cfg)
    assert s.calendar.late_open == {"2026-11-19": "10:00"}
    assert s.calendar.extra_holidays == ["2026-12-31"]
