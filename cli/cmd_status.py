"""``qtx status``: config, database, stored bars and each stage's last run."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.common import ctx_of, emit_json, guarded, out
from cli.main import app


@app.command()
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the status as one JSON document."),
) -> None:
    """Show the config in use, market, mode, profile, database, stored bars and last runs."""
    from pipeline.service import status as build_status  # + switches, metrics, orders, listener

    app_ctx = ctx_of(ctx)

    def body():
        data = build_status(app_ctx.db, app_ctx.settings)
        if as_json:
            emit_json(data)
        else:
            render(data)

    guarded(body)


def render(d: dict) -> None:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("config", str(d.get("config")))
    t.add_row("market / mode", f"{d['market']} / {d['mode']}")
    t.add_row("profile", d.get("profile") or "(none)")
    db = d["database"]
    t.add_row("database", f"{db['path']} (schema v{db['schema_version']})")
    data = d["data"]
    if data["bars"]:
        t.add_row("data source", data["source"])
        t.add_row("bars", f"{data['bars']} bars of {data['symbols']} symbols, "
                          f"{data['first_date']} .. {data['last_date']}")
    else:
        t.add_row("bars", "none stored (qtx collect, or qtx init --demo)")
    if "trading_enabled" in d:
        blocks = d.get("buy_block_reasons") or []
        t.add_row("trading", ("on" if d["trading_enabled"] else "STOPPED")
                  + (f"; BUYs blocked: {'; '.join(blocks)}" if blocks else ""))
    m = d.get("metrics")
    if m:
        t.add_row("equity", f"{m['equity']:,.2f} on {m['date']} (cash {m['cash']:,.2f})")
        t.add_row("day / drawdown", f"{m.get('day_return', 0):+.2%} / {m.get('drawdown', 0):.2%}"
                  f" (size x{m.get('size_multiplier', 1):g})")
    if "open_orders" in d:
        t.add_row("open orders", str(len(d["open_orders"])))
    if "listener" in d:
        hb = d["listener"]
        t.add_row("telegram listener", f"{hb.get('state')} (heartbeat {hb.get('ts')})" if hb else "never started")
    if d.get("outbox"):
        t.add_row("outbox", ", ".join(f"{k} {v}" for k, v in d["outbox"].items()))
    out.print(t)
    runs = Table(title="last runs", title_justify="left")
    for col in ("stage", "outcome", "asof", "started", "ended", "message"):
        runs.add_column(col)
    for stage, r in d["runs"].items():
        if r is None:
            runs.add_row(stage, "never", "", "", "", "")
        else:
            runs.add_row(stage, r["outcome"], r["asof"] or "", r["started_at"] or "",
                         r["ended_at"] or "", r["message"] or "")
    out.print(runs)
