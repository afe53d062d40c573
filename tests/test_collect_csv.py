"""`qtx collect --source csv`: validation by reason, idempotence, conflicts, --asof, sectors."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from db import bars as bars_db
from db import events as events_db
from pipeline.feeds.csv_bars import SKIP_REASONS, CsvFormatError, parse_text
from pipeline.stages.collect import collect_csv

GOOD = "date,open,high,low,close,volume\n2024-01-02,100,110,90,105,1000\n2024-01-03,105,112,101,110,1500\n"

# One row per skip reason (and one flagged row), with what each should count as.
CRAFTED = """date,open,high,low,close,volume,comment
2024-01-02,100,110,90,105,1000,good
2024-01-03,105,112,101,110,1500,good
2024-13-01,100,110,90,105,1000,bad month
2024/01/04,100,110,90,105,1000,slashes
,100,110,90,105,1000,no date
2024-01-05,,110,90,105,1000,missing open
2024-01-08,100,110,90,105,,missing volume
2024-01-09,abc,110,90,105,1000,text price
2024-01-10,0,0,0,0,0,holiday row
2024-01-11,100,110,90,-5,1000,negative close
2024-01-12,100,90,110,100,1000,high below low
2024-01-16,100,110,90,105,-1,negative volume
2024-01-03,101,111,91,106,1000,repeated date
2024-01-15,120,118,95,100,2000,open above high: kept and flagged
2024-01-06,100,110,90,105,1000,a Saturday
2024-01-01,100,110,90,105,1000,New Year's Day (KRX closed)
2099-01-06,100,110,90,105,1000,after the market's current date
2024-01-17,1e308,1e308,90,105,1000,absurd price
2024-01-18,100,110,90,105,inf,infinite volume
2024-01-19,100,110,90,150,1000,close far above high
"""
CRAFTED_SKIPS = {"bad_date": 3, "missing_value": 2, "non_numeric": 2, "price_not_positive": 2,
                 "high_below_low": 1, "negative_volume": 1, "duplicate_date": 1,
                 "not_trading_day": 2, "future_date": 1, "absurd_value": 1, "outside_range": 1}


def _write(d, name, text):
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text, encoding="utf-8")
    return d / name


def _all_bars(db):
    return db.query("SELECT symbol, date, open, high, low, close, volume, source FROM bars ORDER BY symbol, date")


def test_every_bad_row_reason_is_counted_and_never_stored(tmp_path, qtx_db, qtx_settings):
    src = tmp_path / "csv"
    _write(src, "AAA.csv", CRAFTED)
    s = collect_csv(qtx_db, qtx_settings, src)
    assert s["skipped"] == CRAFTED_SKIPS
    assert set(CRAFTED_SKIPS) == set(SKIP_REASONS)  # the file covers every reason
    assert s["skipped_total"] == sum(CRAFTED_SKIPS.values())
    assert s["flagged"] == {"open_close_outside_range": 1}
    assert s["bars_new"] == 3
    stored = _all_bars(qtx_db)
    assert [r["date"] for r in stored] == ["2024-01-02", "2024-01-03", "2024-01-15"]
    assert stored[1]["open"] == 105  # the first 2024-01-03 row is kept, not the repeat
    assert all(r["source"] == "csv" for r in stored)
    ev = events_db.recent(qtx_db, kind="collect_bad_rows")
    assert len(ev) == 1 and ev[0]["level"] == "warning"
    assert ev[0]["data"]["skipped"] == CRAFTED_SKIPS and ev[0]["data"]["symbol"] == "AAA"
    assert "AAA.csv" in ev[0]["message"]
    assert ev[0]["data"]["examples"][0] == {"line": 4, "reason": "bad_date",
                                            "row": "2024-13-01,100,110,90,105,1000,bad month"}
    # Importing the same file again does not repeat the same warning.
    collect_csv(qtx_db, qtx_settings, src, asof="2024-01-31")
    assert len(events_db.recent(qtx_db, kind="collect_bad_rows")) == 1


def test_import_twice_changes_nothing(tmp_path, tmp_config, run_cli):
    cfg = tmp_config()
    src = tmp_path / "csv"
    _write(src, "AAA.csv", CRAFTED)
    _write(src, "BBB.csv", GOOD)
    assert run_cli(["init", tmp_path, "--force", "--json"])[0] == 0
    code, out1, _ = run_cli(["--config", cfg, "collect", "--source", "csv", "--path", src, "--json"])
    assert code == 0
    first = json.loads(out1)
    from db import open_db
    from pipeline.config import load

    st = load(cfg)
    db = open_db(st.db_path, market="krx", mode="paper")
    before = _all_bars(db)
    code, out2, _ = run_cli(["--config", cfg, "collect", "--source", "csv", "--path", src, "--json"])
    second = json.loads(out2)
    assert code == 0
    assert first["bars_new"] == 5 and second["bars_new"] == 0
    assert second["bars_unchanged"] == 5 and second["conflicts"] == 0
    assert _all_bars(db) == before
    db.close()


def test_changed_bar_is_a_conflict_not_an_overwrite(tmp_path, qtx_db, qtx_settings):
    src = tmp_path / "csv"
    _write(src, "AAA.csv", GOOD)
    collect_csv(qtx_db, qtx_settings, src)
    _write(src, "AAA.csv", GOOD.replace("2024-01-03,105,112,101,110,1500", "2024-01-03,105,112,101,111,1500")
           + "2024-01-04,110,115,108,112,900\n")
    s = collect_csv(qtx_db, qtx_settings, src)
    assert s["conflicts"] == 1 and s["bars_new"] == 1 and s["bars_unchanged"] == 1
    ex = s["conflict_examples"][0]
    assert ex["date"] == "2024-01-03" and ex["stored"]["close"] == 110 and ex["file"]["close"] == 111
    assert qtx_db.scalar("SELECT close FROM bars WHERE symbol='AAA' AND date='2024-01-03'") == 110
    ev = events_db.recent(qtx_db, kind="collect_conflict")
    assert len(ev) == 1 and ev[0]["data"]["count"] == 1


def test_asof_stores_nothing_after_the_date(tmp_path, qtx_db, qtx_settings):
    src = tmp_path / "csv"
    _write(src, "AAA.csv", GOOD + "2024-01-04,110,115,108,112,900\n2024-01-05,112,116,110,115,800\n")
    s = collect_csv(qtx_db, qtx_settings, src, asof="2024-01-03")
    assert s["bars_new"] == 2 and s["after_asof"] == 2
    assert bars_db.date_range(qtx_db) == ("2024-01-02", "2024-01-03")
    s = collect_csv(qtx_db, qtx_settings, src)  # the next day's run brings the rest
    assert s["bars_new"] == 2 and s["bars_unchanged"] == 2
    assert bars_db.date_range(qtx_db) == ("2024-01-02", "2024-01-05")


def test_sectors_file_fills_instruments(tmp_path, qtx_db, qtx_settings):
    src = tmp_path / "csv"
    _write(src, "AAA.csv", GOOD)
    _write(src, "005930.csv", GOOD)
    _write(src, "sectors.csv", "symbol,sector\nAAA,Tech\n005930,Information Technology\nZZZ,\n")
    s = collect_csv(qtx_db, qtx_settings, src)
    assert s["symbols"] == ["005930", "AAA"]  # sectors.csv is not a symbol
    assert s["sectors"] == 3
    assert bars_db.sectors(qtx_db) == {"AAA": "Tech", "005930": "Information Technology", "ZZZ": None}
    assert bars_db.symbols(qtx_db) == ["005930", "AAA"]  # codes keep their leading zeros


def test_header_any_order_case_and_extra_columns(tmp_path, qtx_db, qtx_settings):
    src = tmp_path / "csv"
    _write(src, "AAA.csv", "Volume,Close,Adj Close,Low,High,Open,Date\n1000,105,104.5,90,110,100,2024-01-02\n")
    s = collect_csv(qtx_db, qtx_settings, src)
    assert s["bars_new"] == 1 and not s["headerless_files"]
    assert _all_bars(qtx_db)[0] == {"symbol": "AAA", "date": "2024-01-02", "open": 100, "high": 110,
                                    "low": 90, "close": 105, "volume": 1000, "source": "csv"}


def test_headerless_file_is_read_in_standard_order_with_notice(tmp_path, tmp_config, run_cli):
    cfg = tmp_config()
    run_cli(["init", tmp_path, "--force"])
    src = tmp_path / "csv"
    _write(src, "RAW.csv", "2024-01-02,100,110,90,105,1000,0.01\n2024-01-03,0,0,0,0,0,0\n")
    code, out, err = run_cli(["--config", cfg, "collect", "--source", "csv", "--path", src, "--json"])
    assert code == 0
    s = json.loads(out)
    assert s["headerless_files"] == ["RAW.csv"] and s["bars_new"] == 1
    assert s["skipped"] == {"price_not_positive": 1}
    assert "no header" in err


@pytest.mark.parametrize("text,problem", [
    ("day,o,h,l,c,v\n2024-01-02,1,1,1,1,1\n", "header must contain"),
    ("date,open,high,low,close\n2024-01-02,1,1,1,1\n", "missing: volume"),
    ("", "empty file"),
    ("hello world\n", "header must contain"),
])
def test_bad_header_is_a_clear_error_naming_the_file(tmp_path, tmp_config, run_cli, text, problem):
    cfg = tmp_config()
    run_cli(["init", tmp_path, "--force"])
    src = tmp_path / "csv"
    _write(src, "AAA.csv", GOOD)  # a good file sorted first: still nothing may be stored
    bad = _write(src, "BAD.csv", text)
    code, out, err = run_cli(["--config", cfg, "collect", "--source", "csv", "--path", src])
    assert code == 2
    assert str(bad) in err and problem in err
    from db import open_db
    from pipeline.config import load

    db = open_db(load(cfg).db_path, market="krx", mode="paper")
    assert db.scalar("SELECT COUNT(*) FROM bars") == 0
    db.close()


def test_parse_is_pure_and_reports_format_errors():
    with pytest.raises(CsvFormatError, match="x.csv"):
        parse_text("open,close\n1,2\n", path="x.csv")
    p = parse_text(GOOD, symbol="AAA")
    assert list(p.bars.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert p.rows_read == 2 and not p.skipped


def test_collect_usage_errors_are_exit_2(tmp_path, tmp_config, run_cli):
    cfg = tmp_config()
    run_cli(["init", tmp_path, "--force"])
    src = tmp_path / "csv"
    _write(src, "AAA.csv", GOOD)
    base = ["--config", cfg, "collect"]
    cases = [
        (base + ["--source", "csv", "--path", src, "--asof", "2024-13-01"], "--asof"),
        (base + ["--source", "csv", "--path", src, "--asof", "yesterday"], "--asof"),
        (base + ["--source", "csv"], "--path"),
        (base + ["--source", "csv", "--path", tmp_path / "nope"], "not a directory"),
        (base + ["--source", "ftp"], "no collector for source 'ftp'"),
    ]
    for args, words in cases:
        code, out, err = run_cli(args)
        assert code == 2, args
        assert words in err and out == ""


def test_collect_json_shape_and_run_recorded(tmp_path, tmp_config, run_cli):
    cfg = tmp_config()
    run_cli(["init", tmp_path, "--force"])
    src = tmp_path / "csv"
    _write(src, "AAA.csv", CRAFTED)
    code, out, _ = run_cli(["--config", cfg, "collect", "--source", "csv", "--path", src,
                            "--asof", "2024-01-10", "--json"])
    assert code == 0
    s = json.loads(out)
    assert s["status"] == "ok"
    for key, typ in {"source": str, "path": str, "asof": str, "files": int, "headerless_files": list,
                     "rows_read": int, "bars_new": int, "bars_unchanged": int, "after_asof": int,
                     "skipped": dict, "skipped_total": int, "flagged": dict, "conflicts": int,
                     "conflict_examples": list, "sectors": int, "symbols": list, "reasons": dict}.items():
        assert isinstance(s[key], typ), key
    assert s["asof"] == "2024-01-10" and s["after_asof"] == 1 and s["bars_new"] == 2
    assert s["reasons"]["high_below_low"] == SKIP_REASONS["high_below_low"]
    code, out, _ = run_cli(["--config", cfg, "status", "--json"])
    run = json.loads(out)["runs"]["collect"]
    assert run["outcome"] == "ok" and run["asof"] == "2024-01-10" and run["ended_at"]


def test_progress_called_per_file(tmp_path, qtx_db, qtx_settings):
    src = tmp_path / "csv"
    for name in ("A", "B", "C"):
        _write(src, f"{name}.csv", GOOD)
    calls = []
    collect_csv(qtx_db, qtx_settings, src, progress=lambda d, t, label: calls.append((d, t, label)))
    assert calls == [(1, 3, "A"), (2, 3, "B"), (3, 3, "C")]


# --- real published files (only where ../shared/data exists) ------------------------------

def test_krx_raw_files_as_published(tmp_path, shared_data, qtx_db, qtx_settings):
    raw = shared_data / "krx-raw"
    if not raw.is_dir():
        pytest.skip(f"{raw} not present")
    s = collect_csv(qtx_db, qtx_settings, raw)
    assert sorted(s["headerless_files"]) == ["005930.csv", "035720.csv", "145270.csv"]
    # Every calendar day has a row; weekends and holidays are known to the calendar, halts are
    # zero-price rows.
    assert s["skipped"]["not_trading_day"] > 2000 and s["skipped"]["price_not_positive"] > 0
    bad = qtx_db.scalar("SELECT COUNT(*) FROM bars WHERE open <= 0 OR high <= 0 OR low <= 0 "
                        "OR close <= 0 OR high < low OR volume < 0")
    assert bad == 0
    # Halt rows of 145270 (close carried, open/high/low 0) are not trading days.
    assert qtx_db.scalar("SELECT COUNT(*) FROM bars WHERE symbol='145270' AND date='2015-10-21'") == 0
    # Stored bars equal the curated trading-days-only conversion of the same source.
    curated = shared_data / "krx" / "005930.csv"
    if curated.exists():
        want = pd.read_csv(curated, dtype={"date": str})
        got = bars_db.read_bars(qtx_db, "005930")
        assert list(got["date"]) == list(want["date"])
        for c in ("open", "high", "low", "close", "volume"):
            assert (got[c].to_numpy() == want[c].to_numpy(dtype=float)).all(), c
    # Weekends are never stored.
    dates = pd.to_datetime(bars_db.read_all_bars(qtx_db)["date"])
    assert (dates.dt.day_of_week < 5).all()


def test_krx_curated_folder_with_sectors(tmp_path, shared_data, qtx_db, qtx_settings):
    krx = shared_data / "krx"
    if not (krx / "sectors.csv").exists():
        pytest.skip(f"{krx}/sectors.csv not present")
    src = tmp_path / "krx"
    src.mkdir()
    for name in ("005930.csv", "000660.csv", "sectors.csv"):
        if (krx / name).exists():
            shutil.copy(krx / name, src / name)
    s = collect_csv(qtx_db, qtx_settings, src)
    assert s["skipped_total"] == 0 and s["conflicts"] == 0
    assert bars_db.sectors(qtx_db).get("005930")


def test_failure_mid_import_leaves_no_partial_batch(tmp_path, qtx_db, qtx_settings, monkeypatch):
    import pipeline.stages.collect as collect_mod

    src = tmp_path / "csv"
    _write(src, "A.csv", GOOD)
    _write(src, "B.csv", GOOD)
    real = collect_mod.parse_file

    def flaky(path, asof=None, **kw):
        if path.name == "B.csv":
            raise OSError("disk went away")
        return real(path, asof=asof, **kw)

    monkeypatch.setattr(collect_mod, "parse_file", flaky)
    with pytest.raises(OSError):
        collect_csv(qtx_db, qtx_settings, src)
    assert not qtx_db.conn.in_transaction
    assert qtx_db.scalar("SELECT COUNT(*) FROM bars") == 0
    monkeypatch.setattr(collect_mod, "parse_file", real)
    assert collect_csv(qtx_db, qtx_settings, src)["bars_new"] == 4


def test_bad_rows_are_reported_once_per_file_until_they_change(tmp_path, qtx_db, qtx_settings):
    src = tmp_path / "csv"
    bad = GOOD + "2024-01-04,0,0,0,0,0\n"
    _write(src, "AAA.csv", bad)
    _write(src, "BBB.csv", bad)
    for _ in range(2):
        collect_csv(qtx_db, qtx_settings, src)
    assert len(events_db.recent(qtx_db, kind="collect_bad_rows")) == 2
    _write(src, "BBB.csv", bad + "2024-01-05,1,1,2,1,1\n")  # high below low: new skips for BBB
    collect_csv(qtx_db, qtx_settings, src)
    latest = events_db.latest_by(qtx_db, "collect_bad_rows", "file")
    assert len(events_db.recent(qtx_db, kind="collect_bad_rows")) == 3
    assert {k.rsplit("/", 1)[-1]: v["skipped"] for k, v in latest.items()} == {
        "AAA.csv": {"price_not_positive": 1}, "BBB.csv": {"price_not_positive": 1, "high_below_low": 1}}
