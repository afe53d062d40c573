"""Issue 16: an unattended week, simulated.  Five trading days of the KRX launchd schedule with a
fixed seed, as real qtx processes against the Kiwoom and Telegram fakes, with every kind of
fault; then the soak's checks (``tests/soak/checks.py``).  ``make soak`` runs the month."""

from __future__ import annotations

import json

import pytest

from tests.soak import plan
from tests.soak.checks import summary_text, verdicts

SEED = 1

# Checks that fail today because qtx misbehaves (found by this soak; see docs/operations.md).
# The soak keeps checking them: when a fix lands the test says so, and the entry goes.
# Checks the soak found failing because of qtx defects, with the defect; empty: every check must
# hold.  (The three defects it found first are fixed: a dropped create matched by the fill sync,
# a killed stage alerted, the later syncs of a day allowed.)
KNOWN_DEFECTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def five_days(tmp_path_factory):
    from tests.soak.driver import Soak

    return Soak(5, SEED, tmp_path_factory.mktemp("soak")).run()


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_five_trading_days_with_every_fault_nothing_missed_or_doubled(five_days):
    r = five_days
    print(summary_text(r))
    assert r["days"] == 5
    assert set(r["faults"]) == set(plan.KINDS), r["fault_list"]  # every kind actually happened
    assert r["jobs"]["on_wake"] and r["jobs"]["catchup"] and r["jobs"]["killed"]
    assert r["doubles"] == 0 and r["missed"] == 0
    failed = {k for k, c in r["checks"].items() if not c["ok"]}
    assert not failed - set(KNOWN_DEFECTS), summary_text(r)
    if failed:
        pytest.xfail("known qtx defects: " + "; ".join(KNOWN_DEFECTS[k] for k in sorted(failed)))


@pytest.mark.soak
def test_the_summary_is_written_as_json_beside_the_databases(five_days):
    from pathlib import Path

    folder = Path(five_days["dir"])
    written = json.loads((folder / "summary.json").read_text())
    for key in ("days", "faults", "doubles", "missed", "alerts"):
        assert key in written
    assert (folder / "data" / "qtx-krx-live.sqlite").exists()
    assert written["alerts"]["queued"] >= written["fills"] > 0


# -- the checker fails on a tampered result ------------------------------------------------------

def _clean() -> dict:
    """Evidence of a tiny good run: one day decided and executed, one fill alerted."""
    alert = lambda i, key, kind="stage", text="x": {  # noqa: E731
        "id": i, "created_at": "2026-03-10T07:00:00Z", "kind": kind, "text": text, "payload": None,
        "dedup_key": key, "status": "sent", "attempts": 0, "has_photo": 0, "delivered": 1}
    return {
        "days": ["2026-03-10", "2026-03-11"], "calendar": {"extra_holidays": [], "late_open": {}},
        "runs": [{"id": 1, "stage": "signal", "outcome": "ok", "acted_for": "2026-03-10",
                  "started_at": "2026-03-10T07:00:00Z", "message": None}],
        "outbox": [alert(1, "fill:F1", "fill")],
        "orders": [{"client_order_id": "qtx-20260310-B-005930", "symbol": "005930", "side": "BUY",
                    "sent_at": "2026-03-10T23:35:00Z", "broker_order_id": "0000001"}],
        "fills": [{"fill_id": "F1", "symbol": "005930", "date": "2026-03-11"}],
        "signals": [{"date": "2026-03-10", "symbol": "005930", "side": "BUY", "status": "approved"}],
        "metrics": ["2026-03-10"],
        "venue_orders": [{"ord_no": "0000001", "day": "20260311", "symbol": "005930", "side": "buy",
                          "qty": 10, "filled": 10}],
        "venue_creates": 1, "blocks": [], "expected_late": [], "faults": [], "telegram_down": [],
    }


def test_the_clean_evidence_passes():
    r = verdicts(_clean())
    assert r["ok"], r["checks"]


@pytest.mark.parametrize("tamper,check", [
    (lambda e: e["venue_orders"].append(dict(e["venue_orders"][0], ord_no="0000002"))
     or e.update(venue_creates=2), "no_doubles"),
    (lambda e: e.update(runs=[], metrics=[]), "decisions"),
    (lambda e: e["signals"][0].update(status="pending"), "decisions"),
    (lambda e: e["runs"].append({"id": 2, "stage": "execute", "outcome": "failed", "acted_for": None,
                                 "started_at": "2026-03-10T23:35:00Z", "message": "killed"}),
     "failed_alerted"),
    (lambda e: e["outbox"][0].update(delivered=2), "fills_alerted"),
    (lambda e: e["outbox"][0].update(status="pending", delivered=0), "nothing_lost"),
    (lambda e: e["blocks"].append({"day": "2026-03-11", "differences": [
        {"table": "orders", "key": "x", "run": None, "fault_free": 1, "explained_by": []}]}),
     "fault_free"),
    (lambda e: e["faults"].append({"kind": "power_off", "injected": True}), "outages_alerted"),
    (lambda e: e["expected_late"].append({"stage": "execute", "slot": "2026-03-11T08:35:00+09:00"}),
     "outages_alerted"),
    (lambda e: e["orders"][0].update(broker_order_id=None), "orders_known"),
])
def test_each_check_fails_on_a_tampered_result(tamper, check):
    ev = _clean()
    tamper(ev)
    r = verdicts(ev)
    assert not r["checks"][check]["ok"] and not r["ok"]
