"""Issue 13, CSV import: rows the market rules out (closed days, after the market's date,
absurd numbers, impossible prices) are skipped and counted by reason; files that are no symbol
are skipped and said; a folder with nothing usable is exit 2; a move beyond the price limit
flags the symbol (corporate action) and keeps BUYs off it."""

from __future__ import annotations

import json

import pytest

from db import open_db
from tests.builders import ROWS, contents, db_of, one_line_error, write_csv, ws_fixture  # noqa: F401 - ws_fixture: the fixture ws

# QTX_NOW (the ws fixture) is 2024-01-08 20:00 KST: the market's date is 2024-01-08.
GOOD = ("2024-01-08", 106, 109, 103, 108, 1000)
BAD_ROWS = [
    (("2024-01-06", 100, 110, 95, 105, 1000), "not_trading_day"),      # a Saturday
    (("2024-01-01", 100, 110, 95, 105, 1000), "not_trading_day"),      # New Year's Day (KRX closed)
    (("2024-01-09", 100, 110, 95, 105, 1000), "future_date"),          # after the market's date
    (("2031-05-02", 100, 110, 95, 105, 1000), "future_date"),
    (("2024-01-04", "1e308", "1e308", 95, 105, 1000), "absurd_value"),
    (("2024-01-04", 100, 110, 95, 105, "1e300"), "absurd_value"),
    (("2024-01-04", 100, "inf", 95, 105, 1000), "non_numeric"),
    (("2024-01-04", 100, 110, 95, "nan", 1000), "missing_value"),
    (("2024-01-04", 100, 110, 95, 150, 1000), "outside_range"),        # close far above high
    (("2024-01-04", 40, 110, 95, 105, 1000), "outside_range"),         # open far below low
]


def _collect(run_cli, ws, folder, *extra):
    return run_cli(["--config", ws / "qtx.yaml", "collect", "--source", "csv", "--path", folder,
                    "--json", *extra])


@pytest.mark.parametrize("row,reason", BAD_ROWS, ids=[f"{r}-{row[0]}" for row, r in BAD_ROWS])
def test_a_row_the_market_rules_out_is_skipped_and_counted(ws, run_cli, row, reason):
    folder = ws / "new"
    write_csv(folder, "035720", [GOOD, row] if row[0] != GOOD[0] else [row])
    code, out, stderr = _collect(run_cli, ws, folder)
    assert code == 0, stderr
    s = json.loads(out)
    assert s["skipped"] == {reason: 1} and s["bars_new"] == 1 and reason in s["reasons"]
    with _db(ws) as db:
        stored = [r["date"] for r in db.query("SELECT date FROM bars WHERE symbol='035720'")]
    assert stored == [GOOD[0]]


@pytest.mark.parametrize("row,reason", BAD_ROWS, ids=[f"{r}-{row[0]}" for row, r in BAD_ROWS])
def test_a_folder_with_no_usable_row_is_exit_2_and_stores_nothing(ws, run_cli, row, reason):
    folder = ws / "new"
    write_csv(folder, "035720", [row])
    before = contents(db_of(ws))
    code, _, stderr = _collect(run_cli, ws, folder)
    assert code == 2, stderr
    line = one_line_error(stderr)
    assert str(folder) in line and "no usable bar" in line and reason in line
    assert contents(db_of(ws)) == before


def test_off_grid_adjusted_prices_are_kept(ws, run_cli):
    # KRX ticks are 50 won at 20,000-50,000: adjusted prices like 31,234.5 are real data.
    folder = ws / "new"
    write_csv(folder, "035720", [("2024-01-08", 31234.5, 31890.25, 30911.1, 31500.7, 1000)])
    code, out, stderr = _collect(run_cli, ws, folder)
    assert code == 0, stderr
    assert json.loads(out)["bars_new"] == 1 and json.loads(out)["skipped"] == {}


@pytest.mark.parametrize("name,culprit", [
    ("005930 (1).csv", "a copy of 005930.csv"),
    ("005930 copy.csv", "a copy of 005930.csv"),
    ("notes.csv", "not a symbol"),
    ("5930.csv", "did you mean 005930"),
])
def test_a_file_named_like_no_symbol_is_skipped_and_said(ws, run_cli, name, culprit):
    folder = ws / "new"
    write_csv(folder, "035720", [GOOD])
    write_csv(folder, "x", [GOOD], name=name)
    code, out, stderr = _collect(run_cli, ws, folder)
    assert code == 0, stderr
    s = json.loads(out)
    assert s["symbols"] == ["035720"]
    assert s["not_symbols"] == [{"file": name, "reason": pytest.approx(s["not_symbols"][0]["reason"])}]
    assert culprit in s["not_symbols"][0]["reason"]
    assert name in stderr and culprit in stderr  # said on the terminal too
    with _db(ws) as db:
        syms = {r["symbol"] for r in db.query("SELECT DISTINCT symbol FROM bars")}
    assert name[:-4] not in syms


@pytest.mark.parametrize("names", [["005930 (1).csv"], ["notes.csv", "5930.csv"]])
def test_a_folder_of_files_that_are_no_symbols_is_exit_2(ws, run_cli, names):
    folder = ws / "new"
    for n in names:
        write_csv(folder, "x", [GOOD], name=n)
    before = contents(db_of(ws))
    code, _, stderr = _collect(run_cli, ws, folder)
    assert code == 2, stderr
    line = one_line_error(stderr)
    assert "no usable <SYMBOL>.csv" in line and all(n in line for n in names)
    assert contents(db_of(ws)) == before


# --------------------------------------------------------------------------- corporate actions

SPLIT = ROWS + [("2024-01-08", 53, 55, 51, 53, 2200)]  # 106 -> 53: a 2:1 split left unadjusted


@pytest.mark.parametrize("rows,move", [
    (SPLIT, "-50%"),
    (ROWS + [("2024-01-08", 318, 320, 300, 318, 900)], "+200%"),   # a 1:3 reverse split
    (ROWS[:2] + [("2024-01-04", 150, 155, 148, 150, 900)] + ROWS[3:], "+36%"),
])
def test_a_move_beyond_the_price_limit_flags_the_symbol_and_alerts_once(ws, run_cli, rows, move):
    folder = ws / "new"
    write_csv(folder, "035720", rows)
    for _ in range(2):  # a second import alerts nothing new
        code, out, stderr = _collect(run_cli, ws, folder)
        assert code == 0, stderr
    with _db(ws) as db:
        status = db.scalar("SELECT status FROM instruments WHERE symbol='035720'")
        ev = db.query("SELECT message FROM events WHERE kind='corporate_action'")
        alerts = db.query("SELECT text FROM outbox WHERE text LIKE '%035720%'")
        others = db.query("SELECT symbol FROM instruments WHERE status='corporate_action'")
    assert status == "corporate_action" and [o["symbol"] for o in others] == ["035720"]
    assert len(ev) == 1 and move in ev[0]["message"] and "No BUYs for 035720" in ev[0]["message"]
    assert len(alerts) == 1


def test_a_limit_move_itself_is_no_corporate_action(ws, run_cli):
    rows = ROWS[:3] + [("2024-01-05", 145, 145.6, 140, 145.6, 900)]  # +30% from 112: the limit
    folder = ws / "new"
    write_csv(folder, "035720", rows)
    code, out, _ = _collect(run_cli, ws, folder)
    assert code == 0 and json.loads(out)["corporate_actions"] == []


def test_a_flagged_symbol_is_out_of_the_buy_universe_until_a_clean_review(tmp_path):
    from pipeline.engine import UniverseFilter
    from pipeline.feeds import corporate_actions as ca

    class S:
        class universe:
            symbols, exclude, min_price, min_avg_value = [], ["000001"], None, None

    path = tmp_path / "x.sqlite"
    import contextlib

    with contextlib.closing(open_db(path, market="krx", mode="paper", create=True, capital=1e6)) as db:
        assert ca.universe_filter(db, S) == UniverseFilter.from_settings(S.universe)
        assert ca.review(db, "krx", "035720", ["2024-01-04", "2024-01-05"], [100.0, 50.0],
                         current=None) == "flagged"
        u = ca.universe_filter(db, S)
        assert not u.listed("035720") and u.listed("005930") and not u.listed("000001")
        # A later import whose bars hold no such move clears the flag (BUYs allowed again).
        assert ca.review(db, "krx", "035720", ["2024-01-04", "2024-01-05"], [100.0, 101.0],
                         current="corporate_action") == "cleared"
        assert ca.universe_filter(db, S).listed("035720")
        # Bybit has no price limit: nothing is impossible.
        assert ca.impossible_moves("bybit", ["a", "b"], [100.0, 10.0]) == []


def _db(ws):
    import contextlib

    db = open_db(db_of(ws), market="krx", mode="paper")
    return contextlib.closing(db)


def test_a_universe_symbol_without_bars_is_said_with_its_likely_code():
    from pipeline.stages.signal import unmatched_universe

    got = unmatched_universe(["5930", "000660", "NOPE"], ["000660", "005930"], "krx")
    assert got == [{"symbol": "5930", "did_you_mean": "005930"}, {"symbol": "NOPE", "did_you_mean": None}]
    assert unmatched_universe(["BTCUSDT"], ["BTCUSDT"], "bybit") == []


def test_signal_says_when_a_universe_symbol_has_no_bars(tmp_path, run_cli):
    code, _, _ = run_cli(["init", tmp_path, "--demo"])
    assert code == 0
    cfg = tmp_path / "qtx.yaml"
    cfg.write_text(cfg.read_text().replace("symbols: []", "symbols: [SYN001, 5930]", 1))
    code, out, err = run_cli(["--config", cfg, "signal", "--asof", "2025-06-02"])
    assert code == 0, err
    assert "universe symbol 5930 has no stored bars (did you mean 005930?)" in err


def test_a_stage_asked_after_the_newest_bar_says_which_date_it_used(tmp_path, run_cli):
    import json

    code, _, _ = run_cli(["init", tmp_path, "--demo"])
    cfg = tmp_path / "qtx.yaml"
    code, out, _ = run_cli(["--config", cfg, "status", "--json"])
    last = json.loads(out)["data"]["last_date"]
    from datetime import date

    from pipeline.schedule.calendar import next_trading_day

    later = next_trading_day("krx", date.fromisoformat(last)).isoformat()  # a session with no bar yet
    for stage in ("signal", "report"):
        code, out, err = run_cli(["--config", cfg, stage, "--asof", later, "--json"])
        assert code == 0, err
        r = json.loads(out)
        assert r["note"] == f"--asof {later} is after the newest stored bar; this is as of {last}"
