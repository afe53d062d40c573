"""`qtx backtest`: trades.csv / equity.csv exactly as "Outputs of a backtest" says, the JSON
document, --start as warm-up only, --end, open orders at the end, and the PNG chart."""

from __future__ import annotations

import csv
import json
import re
import struct
import zlib

import pytest

from db import bars as bars_db
from db import open_db
from pipeline.engine import simulate
from pipeline.market import Market
from risk.params import RiskParams
from sennot import create
from sennot.costs import Costs
from tests.builders import market, warm

CAPITAL = 100_000_000
SIG = 260 + 13  # the pullback bar of AAA (see test_sennot_rules.test_engine_pullback_buy_then_time_exit)


def _bars():
    a = warm([100.0] * 12 + [98.0, 99.0] + [99.5] * 12, level=50.0, symbol="AAA")
    # BBB: a breakout bar whose BUY fills, then a stop loss; another sector
    b = warm([101.0, 101.0, 95.0] + [95.0] * 20, level=100.0, tail_volumes=[1001.0] + [1000.0] * 22,
             symbol="BBB")
    return a, b


@pytest.fixture
def bt_db(tmp_path, tmp_config):
    cfg = tmp_config(database=str(tmp_path / "bt.sqlite"), capital=CAPITAL)
    db = open_db(tmp_path / "bt.sqlite", market="krx", mode="paper", create=True, capital=CAPITAL)
    for b in _bars():
        rows = list(zip(b.dates.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(),
                        b.close.tolist(), b.volume.tolist()))
        bars_db.insert_bars(db, b.symbol, rows, source="csv")
    bars_db.upsert_instruments(db, [{"symbol": "AAA", "sector": "tech"}, {"symbol": "BBB", "sector": "bio"}])
    db.close()
    return cfg


def _in_process(start=None, end=None):
    a, b = _bars()
    m: Market = market(a, b, sectors={"AAA": "tech", "BBB": "bio"})
    return simulate(m, create(), RiskParams(), Costs(), CAPITAL, start, end), m


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


NUM = re.compile(r"^-?\d+(\.\d+)?(e-?\d+)?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def test_trades_and_equity_csv_exactly_as_the_spec_says(bt_db, tmp_path, run_cli):
    tr, eqf = tmp_path / "trades.csv", tmp_path / "equity.csv"
    code, out, err = run_cli(["--config", bt_db, "backtest", "--trades-out", tr, "--equity-out", eqf, "--json"])
    assert code == 0, err
    res, m = _in_process()
    rows = _read(tr)
    assert rows[0] == ["date", "symbol", "side", "qty", "price", "fee", "reason"]
    assert open(tr).read().splitlines()[0] == "date,symbol,side,qty,price,fee,reason"
    body = rows[1:]
    assert len(body) == len(res.trades) >= 4  # one row per fill, in fill order
    for r, t in zip(body, res.trades):
        assert DATE.match(r[0]) and r[0] == t.date  # the fill date
        assert r[1] == t.symbol and r[2] in ("BUY", "SELL") and r[2] == t.side
        assert re.fullmatch(r"\d+", r[3]) and float(r[3]) == t.qty  # whole shares, no ".0"
        assert NUM.match(r[4]) and float(r[4]) == t.price
        assert NUM.match(r[5]) and float(r[5]) == t.fee  # unrounded
        assert r[6] == t.reason
    d = m.dates.tolist()
    assert [(r[0], r[2], r[6]) for r in body if r[1] == "AAA"][0] == (d[SIG + 1], "BUY", "pullback")
    assert ("SELL", "time_exit") in {(r[2], r[6]) for r in body}
    assert ("BUY", "breakout") in {(r[2], r[6]) for r in body}

    rows = _read(eqf)
    assert open(eqf).read().splitlines()[0] == "date,cash,equity,drawdown,positions,buy_blocked,size_multiplier"
    body = rows[1:]
    assert [r[0] for r in body] == d  # one row per decision date
    for r, e in zip(body, res.equity):
        assert float(r[1]) == e.cash and float(r[2]) == e.equity and float(r[3]) == e.drawdown
        assert re.fullmatch(r"\d+", r[4]) and int(r[4]) == e.positions
        assert r[5] in ("0", "1") and int(r[5]) == e.buy_blocked
        assert float(r[6]) in (1.0, 0.5)
    # positions counts holdings after that date's fills
    i = d.index(res.trades[0].date)
    assert int(body[i - 1][4]) == 0 and int(body[i][4]) >= 1


def test_json_is_one_document_with_the_summary(bt_db, tmp_path, run_cli):
    code, out, err = run_cli(["--config", bt_db, "backtest", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    res, m = _in_process()
    for key in ("start", "end", "days", "capital", "final_equity", "total_return", "cagr", "max_drawdown",
                "sharpe", "fills", "buys", "sells", "round_trips", "win_rate", "avg_win", "avg_loss",
                "exposure", "fees", "rejections", "approved", "exits", "open_orders", "files", "symbols"):
        assert key in doc, key
    assert doc["days"] == len(m.dates) and doc["symbols"] == 2
    assert doc["start"] == m.dates[0] and doc["end"] == m.dates[-1]
    assert doc["fills"] == len(res.trades) and doc["final_equity"] == pytest.approx(res.equity[-1].equity)
    assert doc["exits"] == {"stop_loss": 1, "time_exit": 1}
    assert doc["files"] == {"trades": None, "equity": None, "chart": None}


def test_start_uses_earlier_bars_as_warm_up_only(bt_db, run_cli):
    a, _ = _bars()
    start = a.dates[SIG]  # the pullback needs 240 bars of history before it
    code, out, err = run_cli(["--config", bt_db, "backtest", "--start", start, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    res, _ = _in_process(start=start)
    assert doc["start"] == start and doc["fills"] == len(res.trades) > 0
    assert res.trades[0].date == a.dates[SIG + 1] and res.trades[0].reason == "pullback"
    assert res.equity[0].date == start and res.equity[0].equity == CAPITAL  # no earlier trades
    assert all(t.date >= start for t in res.trades)
    # the BBB breakout before --start was not traded
    full, _ = _in_process()
    assert any(t.symbol == "BBB" for t in full.trades)
    assert not any(t.symbol == "BBB" for t in res.trades)


def test_end_and_orders_still_open_are_reported_not_filled(bt_db, tmp_path, run_cli):
    a, _ = _bars()
    end = a.dates[SIG]
    tr = tmp_path / "t.csv"
    code, out, err = run_cli(["--config", bt_db, "backtest", "--start", end, "--end", end, "--json",
                              "--trades-out", tr])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["end"] == end and doc["days"] == 1 and doc["fills"] == 0
    assert [(o["symbol"], o["side"], o["reason"]) for o in doc["open_orders"]] == [("AAA", "BUY", "pullback")]
    assert _read(tr) == [["date", "symbol", "side", "qty", "price", "fee", "reason"]]


@pytest.mark.parametrize("window", [["--end", "1999-01-04"], ["--start", "2022-06-01"]])
def test_a_window_outside_the_stored_bars_is_bad_usage_naming_them(bt_db, run_cli, window):
    """Not "no bars stored, run collect" (there are bars) nor an empty success."""
    a, _ = _bars()
    code, out, err = run_cli(["--config", bt_db, "backtest", "--json", *window])
    assert code == 2 and out == ""
    assert f"the stored bars run {a.dates[0]} .. {a.dates[-1]}" in err


def _png_chunks(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + n
    return chunks


def test_chart_is_a_valid_png(bt_db, tmp_path, run_cli):
    png = tmp_path / "equity.png"
    code, out, err = run_cli(["--config", bt_db, "backtest", "--chart", png, "--json"])
    assert code == 0, err
    assert json.loads(out)["files"]["chart"] == str(png)
    chunks = _png_chunks(png.read_bytes())
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    w, h = struct.unpack(">II", chunks[0][1][:8])
    assert w > 100 and h > 100
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) > h  # decodable image data, one filter byte per row at least


def test_human_output_and_help(bt_db, run_cli):
    code, out, _ = run_cli(["--config", bt_db, "backtest"])
    assert code == 0 and "total return" in out and "max drawdown" in out
    code, out, _ = run_cli(["backtest", "--help"])
    assert code == 0
    for opt in ("--start", "--end", "--trades-out", "--equity-out", "--chart", "--json"):
        assert opt in out


def test_no_bars_fails_with_exit_1(tmp_path, tmp_config, run_cli):
    cfg = tmp_config(database=str(tmp_path / "empty.sqlite"))
    open_db(tmp_path / "empty.sqlite", market="krx", mode="paper", create=True).close()
    code, out, err = run_cli(["--config", cfg, "backtest", "--json"])
    assert code == 1 and "no bars" in err
