"""``reconcile`` (pure diff, then repair; an unexplained difference blocks BUYs until resolved)
and the daily ``report`` (JSON, chart, queued for Telegram once)."""

from __future__ import annotations

import json

import pytest

from brokers.base import OrderRequest
from db import control as control_db
from db import trading
from pipeline.brokers_factory import make_broker
from pipeline.stages.execute import run_execute
from pipeline.stages.reconcile import diff, run_reconcile
from tests.paper_world import make_world


@pytest.fixture
def traded(tmp_path):
    """A paper world driven until orders are open at the venue after ``execute``."""
    world = make_world(tmp_path, n_symbols=16)
    db = world.db()
    from pipeline.stages.collect import collect_csv

    window = world.dates[-40:]
    collect_csv(db, world.settings, world.csv_dir, asof=world.dates[world.dates.index(window[0]) - 1])
    for d in window:
        world.day(db, d)
        if trading.open_orders(db) and trading.positions(db):
            return world, db, d
    pytest.fail("no day with open orders and positions")


def test_pure_diff_lists_each_kind_of_difference():
    from brokers.base import Fill, OrderState

    f = Fill("e1", "c1", "AAA", "BUY", 10, 100.0, 0.1, "2026-01-06", "t")
    d = diff(broker_orders={"c1": OrderState("c1", "AAA", "BUY", 10, "filled", 10, 100.0)},
             broker_open=[OrderState("zz", "BBB", "BUY", 1, "new")], broker_fills=[f],
             broker_positions={"AAA": 10, "CCC": 5},
             db_orders={"c1": {"status": "new", "symbol": "AAA", "side": "BUY"},
                        "c2": {"status": "new", "symbol": "DDD", "side": "SELL"}},
             db_fill_ids=set(), db_positions={})
    assert [m["fill_id"] for m in d.missing_fills] == ["e1"]
    assert d.order_updates == [{"client_order_id": "c1", "symbol": "AAA", "db_status": "new", "broker_status": "filled"}]
    assert [m["client_order_id"] for m in d.missing_at_broker] == ["c2"]
    assert [o["client_order_id"] for o in d.unknown_at_broker] == ["zz"]
    # AAA is explained by the missing fill; CCC is not.
    assert d.position_mismatches == [{"symbol": "CCC", "broker_qty": 5, "db_qty": 0.0}]
    assert not d.clean and len(d.unexplained) == 2


def test_reconcile_records_a_fill_the_database_missed(traded):
    world, db, d = traded
    nxt = world.dates[world.dates.index(d) + 1]
    from pipeline.stages.collect import collect_csv

    collect_csv(db, world.settings, world.csv_dir, asof=nxt)
    broker = make_broker(world.settings, db)
    made = broker.on_bars(nxt)  # the venue fills; qtx has not synced
    assert made
    before = db.scalar("SELECT COUNT(*) FROM fills")
    dry = run_reconcile(db, world.settings, nxt, dry_run=True)
    assert len(dry["diff"]["missing_fills"]) == len(made)
    assert db.scalar("SELECT COUNT(*) FROM fills") == before  # dry run changes nothing
    res = run_reconcile(db, world.settings, nxt)
    assert res["repaired"]["fills"] == len(made) and not res["buys_blocked"]
    assert res["remaining"]["clean"]
    assert db.scalar("SELECT COUNT(*) FROM events WHERE kind = 'reconcile_missing_fill'") == len(made)
    assert {p.symbol: p.qty for p in broker.positions()} == {s: p["qty"] for s, p in trading.positions(db).items()}
    assert run_reconcile(db, world.settings, nxt)["diff"]["clean"]


def test_unexplained_difference_blocks_buys_until_resolved(traded):
    world, db, d = traded
    broker = make_broker(world.settings, db)
    sym = next(iter(trading.positions(db)))
    broker.place(OrderRequest("manual-1", sym, "SELL", 1, date=d))  # someone traded by hand
    res = run_reconcile(db, world.settings, d)
    assert res["buys_blocked"]
    assert control_db.buy_block_reasons(db)
    alert = db.one("SELECT text FROM outbox WHERE kind = 'risk' ORDER BY id DESC LIMIT 1")
    assert "manual-1" in alert["text"]
    # While blocked, execute places no BUY.
    nxt = world.dates[world.dates.index(d) + 1]
    world.day(db, nxt, execute=False)
    run_execute(db, world.settings, nxt)
    assert not db.query("SELECT 1 FROM orders WHERE date = ? AND side = 'BUY'", (nxt,))
    rejected = db.query("SELECT verdict_reason FROM signals WHERE date = ? AND side = 'BUY'", (nxt,))
    assert all(r["verdict_reason"].startswith("buys_blocked") or r["verdict_reason"] != "approved" for r in rejected)
    broker.cancel("manual-1")
    res = run_reconcile(db, world.settings, nxt)
    assert not res["buys_blocked"] and control_db.buy_block_reasons(db) == []


def test_position_mismatch_blocks_and_an_order_the_broker_lacks_is_kept_and_alerted(traded):
    world, db, d = traded
    sym = next(iter(trading.positions(db)))
    db.conn.execute("UPDATE positions SET qty = qty + 1 WHERE symbol = ?", (sym,))
    trading.insert_external_order(db, "ghost-1", d, sym, "SELL", 1, "new", "test")
    res = run_reconcile(db, world.settings, d)
    assert any(sym in p for p in res["remaining"]["unexplained"])
    assert res["buys_blocked"]
    # Not shown by the venue is not ended: it is never closed for that (it may still fill) ...
    assert trading.order(db, "ghost-1")["status"] == "new"
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key = 'missing:ghost-1'") == 0
    # ... and still missing after its day, it is alerted once.
    nxt = world.dates[world.dates.index(d) + 1]
    run_reconcile(db, world.settings, nxt, dry_run=True)
    run_reconcile(db, world.settings, nxt)
    run_reconcile(db, world.settings, nxt)
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE dedup_key = 'missing:ghost-1'") == 1
    assert trading.order(db, "ghost-1")["status"] == "new"


def test_report_json_chart_and_send_once(traded, tmp_path, run_cli):
    world, db, d = traded
    code, out, _ = run_cli(["--config", world.config, "report", "--asof", d, "--json", "--send",
                            "--chart", tmp_path / "eq.png"])
    assert code == 0
    r = json.loads(out)
    assert r["date"] == d
    for key in ("equity", "cash", "day_pnl", "total_pnl", "drawdown", "positions", "fills", "signals", "risk", "chart"):
        assert key in r
    assert r["positions"] and all({"symbol", "qty", "pnl", "last"} <= set(p) for p in r["positions"])
    assert (tmp_path / "eq.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    queued = db.query("SELECT text, photo FROM outbox WHERE kind = 'report'")
    assert len(queued) == 1 and queued[0]["photo"][:4] == b"\x89PNG"
    assert d in queued[0]["text"]
    run_cli(["--config", world.config, "report", "--asof", d, "--send"])
    assert db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'report'") == 1  # not twice
