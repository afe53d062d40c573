"""Issue 13, bad input: dates checked the same way on every command that takes one (one parser,
cli.common.date_option), output paths checked before any work, and the other foreseeable
mistakes of a command line (init onto a file, an unreadable sectors.csv, a folder without bar
files): exit 2 naming the culprit, nothing stored changed."""

from __future__ import annotations

import pytest

from tests.builders import contents, db_of, one_line_error, write_csv, ws_fixture  # noqa: F401 - ws_fixture: the fixture ws

# QTX_NOW (the ws fixture) is 2024-01-08 20:00 KST: the market's date is 2024-01-08.
DATE_COMMANDS = [
    ["signal", "--asof"], ["execute", "--asof"], ["report", "--asof"], ["reconcile", "--asof"],
    ["sync", "--asof"], ["positions", "--asof"], ["analysis", "--asof"],
    ["backtest", "--start"], ["backtest", "--end"], ["replay", "--start"], ["replay", "--end"],
    ["collect", "--source", "csv", "--path", "CSV_DIR", "--asof"],
]
BAD_DATES = [
    ("2022-13-01", "not a real date"),
    ("2026-02-30", "not a real date"),
    ("yesterday", "not a date"),
    ("tomorrow", "not a date"),
    ("2024-1-5", "not a date"),
    ("2024-01-09", "in the future (the market's date is 2024-01-08)"),
]


@pytest.mark.parametrize("value,reason", BAD_DATES, ids=[v for v, _ in BAD_DATES])
@pytest.mark.parametrize("command", DATE_COMMANDS, ids=lambda c: " ".join(c[:1] + c[-1:]))
def test_a_bad_date_is_exit_2_with_the_reason_on_every_command(ws, run_cli, command, value, reason):
    before = contents(db_of(ws))
    args = [a if a != "CSV_DIR" else str(ws / "csv") for a in command]
    code, out, stderr = run_cli(["--config", ws / "qtx.yaml", *args, value])
    assert code == 2, stderr + out
    assert "Traceback" not in stderr
    assert f"'{command[-1]}'" in stderr and reason in stderr and value in stderr
    assert contents(db_of(ws)) == before


@pytest.mark.parametrize("command", [["backtest"], ["replay"]])
@pytest.mark.parametrize("start,end", [("2024-01-05", "2024-01-02"), ("2024-01-03", "2023-12-29")])
def test_a_start_after_the_end_is_exit_2(ws, run_cli, command, start, end):
    before = contents(db_of(ws))
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", *command, "--start", start, "--end", end])
    assert code == 2
    assert f"--start {start} is after --end {end}" in one_line_error(stderr)
    assert contents(db_of(ws)) == before


@pytest.mark.parametrize("days", ["-3", "0", "x"])
def test_replay_days_must_be_a_positive_number(ws, run_cli, days):
    before = contents(db_of(ws))
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "replay", "--days", days])
    assert code == 2 and "--days" in stderr
    assert contents(db_of(ws)) == before


def test_a_real_past_date_still_works(ws, run_cli):
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "backtest", "--start", "2024-01-02",
                               "--end", "2024-01-08"])
    assert code == 0, stderr


@pytest.mark.parametrize("option", ["--trades-out", "--equity-out", "--chart"])
@pytest.mark.parametrize("target,culprit", [("FOLDER", "is a folder"), ("MISSING/x.csv", "does not exist"),
                                            ("AFILE/x.csv", "is not a folder")])
def test_an_output_path_that_cannot_be_written_is_exit_2_before_any_work(ws, run_cli, option, target, culprit):
    (ws / "afile").write_text("x")
    path = target.replace("FOLDER", str(ws)).replace("MISSING", str(ws / "nope")).replace("AFILE", str(ws / "afile"))
    before = contents(db_of(ws))
    code, out, stderr = run_cli(["--config", ws / "qtx.yaml", "backtest", option, path])
    assert code == 2, stderr
    assert "Traceback" not in stderr and option in stderr and culprit in stderr
    assert "backtest" not in out  # refused before the run, not after it
    assert contents(db_of(ws)) == before


def test_report_chart_into_a_folder_is_exit_2(ws, run_cli):
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "report", "--chart", ws])
    assert code == 2 and "--chart" in stderr and "is a folder" in stderr


@pytest.mark.parametrize("target", ["qtx.yaml", "csv/005930.csv"])
def test_init_onto_a_file_is_exit_2_and_leaves_it(ws, run_cli, target):
    f = ws / target
    before = f.read_bytes()
    code, _, stderr = run_cli(["init", f])
    assert code == 2
    assert str(f) in one_line_error(stderr) and "is a file, not a folder" in stderr
    assert f.read_bytes() == before


@pytest.mark.parametrize("content,culprit", [
    (b"\xff\xfe\x00\x01garbage", "not UTF-8"),
    (b"foo,bar\n1,2\n", "header must contain symbol,sector"),
    (b"symbol,sector\n\"005930,IT\n" + b"x" * 200_000, "not a readable CSV"),
])
def test_a_bad_sectors_csv_is_exit_2_and_stores_nothing(ws, run_cli, content, culprit):
    import csv

    csv.field_size_limit(100_000)  # the default 128 KiB would accept the runaway quoted field
    try:
        folder = ws / "new"
        write_csv(folder, "035720")
        (folder / "sectors.csv").write_bytes(content)
        before = contents(db_of(ws))
        code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "collect", "--source", "csv",
                                   "--path", folder, "--asof", "2024-01-05"])
    finally:
        csv.field_size_limit(131072)
    assert code == 2, stderr
    line = one_line_error(stderr)
    assert "sectors.csv" in line and culprit in line
    assert contents(db_of(ws)) == before


@pytest.mark.parametrize("files", [[], ["notes.txt"], ["sectors.csv"]])
def test_a_folder_without_bar_files_is_exit_2(ws, run_cli, files):
    folder = ws / "empty"
    folder.mkdir()
    for name in files:
        (folder / name).write_text("symbol,sector\n005930,IT\n")
    before = contents(db_of(ws))
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "collect", "--source", "csv",
                               "--path", folder, "--asof", "2024-01-05"])
    assert code == 2, stderr
    assert str(folder) in one_line_error(stderr) and "no <SYMBOL>.csv" in stderr
    assert contents(db_of(ws)) == before


@pytest.mark.parametrize("source", [[], ["--source", "kiwoom"], ["--source", "bybit"]])
def test_path_without_source_csv_is_said_not_ignored(ws, run_cli, source):
    before = contents(db_of(ws))
    code, _, stderr = run_cli(["--config", ws / "qtx.yaml", "collect", *source, "--path", ws / "csv"])
    assert code == 2, stderr
    line = one_line_error(stderr)
    assert str(ws / "csv") in line and "--source csv" in line
    assert contents(db_of(ws)) == before
