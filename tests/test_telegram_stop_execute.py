"""``/stop`` from Telegram, then ``qtx execute`` with a BUY and a SELL pending: the buy is not
placed, the sell is."""

from __future__ import annotations

import subprocess

import pytest

from db import control as control_db
from db import readside, trading
from pipeline.stages.collect import collect_csv
from pipeline.stages.execute import run_execute
from pipeline.stages.signal import run_signal
from tests.fakes.telegram_bot_api import FakeBotAPI
from tests.paper_world import make_world
from tests.telegram_helpers import CHAT, TOKEN, TOKEN_ENV, running_listener

pytestmark = pytest.mark.timeout(300)


def test_stop_blocks_new_buys_but_exits_still_run(tmp_path, qtx_bin, subprocess_env):
    fake = FakeBotAPI(TOKEN).start()
    try:
        world = make_world(tmp_path, market="krx", mode="paper", capital=100_000_000,
                           telegram={"token_env": TOKEN_ENV, "allowed_chat_ids": [CHAT],
                                     "base_url": fake.url, "poll_timeout": 1,
                                     "outbox_poll_seconds": 0.2, "watch_stages": []})
        db = world.db()
        s = world.settings
        # Trade day by day until a decision date has both a BUY and a SELL pending.
        target = None
        for d in world.dates[250:]:
            collect_csv(db, s, world.csv_dir, asof=d)
            run_signal(db, s, d)
            pending = {x["side"] for x in trading.signals_on(db, d, status="pending")}
            m = readside.latest_metrics(db, d)
            # with room for a new position: a BUY the guard rejects for cash proves nothing
            if pending == {"BUY", "SELL"} and m["cash"] > 0.25 * m["equity"]:
                target = d
                break
            run_execute(db, s, d)
        assert target, "the synthetic market never had a BUY and a SELL pending on one day"

        with running_listener(s):
            fake.push_command(CHAT, "/stop")
            assert fake.wait_for(lambda f: any("New buys blocked" in t for t in f.texts(CHAT)))
        assert control_db.flags(db)["trading_enabled"]["value"] is False

        venue_before = db.scalar("SELECT COALESCE(MAX(id), 0) FROM paper_orders")
        res = subprocess.run([qtx_bin, "--config", str(world.config), "execute", "--asof", target],
                             capture_output=True, text=True, env=subprocess_env(), timeout=120)
        assert res.returncode == 0, res.stderr
        orders = db.query("SELECT * FROM orders WHERE date = ?", (target,))
        sells = [o for o in orders if o["side"] == "SELL"]
        assert sells and all(o["status"] not in ("intent", "rejected") for o in sells)
        assert [o for o in orders if o["side"] == "BUY"] == []
        buys = trading.signals_on(db, target)
        buys = [b for b in buys if b["side"] == "BUY"]
        assert buys and all(b["status"] == "rejected" and b["verdict_reason"].startswith("buys_blocked")
                            for b in buys), buys
        # The paper venue (an outside system as far as qtx is concerned) got sells only.
        new_at_venue = {r["side"] for r in db.query("SELECT side FROM paper_orders WHERE id > ?",
                                                        (venue_before,))}
        assert new_at_venue == {"SELL"}
    finally:
        fake.stop()
