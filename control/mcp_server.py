"""``qtx mcp``: a Model Context Protocol server on stdio, for the operator's AI assistant.

The tools answer from the same service layer as Telegram and the terminal (``pipeline.read.service``,
``pipeline.stages.report``, ``pipeline.read.doctor``) and return JSON (``structured_content``).  They read;
none places, amends or cancels an order, runs a stage, or returns a secret.  Two control tools,
``pause_buys`` and ``resume_buys``, exist only when the config says ``mcp.allow_control: true``,
and act exactly like Telegram's ``/stop`` and ``/start`` (``service.set_trading``, recorded as
an event naming ``mcp`` as the one who did it); exits keep running either way.

Each call opens the database and closes it again: the server lives as long as the assistant's
session, the stages write in between, and SQLite's WAL gives every call a current snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from db import open_db
from pipeline.config import Settings
from pipeline.read import service

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CONTROL = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                          open_world_hint=False)
READ_TOOLS = ("status", "positions", "analysis", "latest_report", "recent_events", "recent_runs",
              "doctor")
CONTROL_TOOLS = ("pause_buys", "resume_buys")
BY = "mcp"  # who paused or resumed, in the control flag and the event

INSTRUCTIONS = (
    "qtx is the operator's automated trading system (a strategy, a risk guard that outranks it, "
    "a broker, SQLite). These tools read its state: status (switches, equity, drawdown, open "
    "orders, each stage's last run), positions, analysis, the latest daily report, recent events "
    "and runs, and doctor (a health check that says what to do about each failure). They never "
    "trade. Quote numbers as given; say when data is old or a check failed.")

AsOf = Annotated[date | None, Field(description="Market date (YYYY-MM-DD); default: the latest.")]


def _plain(x: Any) -> Any:
    """JSON-ready: dates as ISO text, numpy scalars as numbers, anything else as text."""
    def default(o: Any) -> Any:
        if hasattr(o, "to_dict"):
            return o.to_dict()
        if hasattr(o, "isoformat"):
            return o.isoformat()
        if hasattr(o, "item"):
            return o.item()
        if isinstance(o, (set, tuple)):
            return list(o)
        return str(o)

    return json.loads(json.dumps(x, default=default))


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def build(settings: Settings) -> MCPServer:
    """The server for one config; control tools only if ``settings.mcp.allow_control``."""
    s = settings

    @contextmanager
    def database() -> Iterator[Any]:
        db = open_db(s.db_path, market=s.market, mode=s.mode)
        try:
            yield db
        finally:
            db.close()

    server = MCPServer(name="qtx", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(annotations=READ)
    def status() -> dict[str, Any]:
        """Market and mode, whether trading is on and why BUYs are blocked, equity, day P&L,
        drawdown and size multiplier, open orders, each stage's last run, the Telegram
        listener's heartbeat (what Telegram's /status shows)."""
        with database() as db:
            return _plain(service.status(db, s))

    @server.tool(annotations=READ)
    def positions(asof: AsOf = None) -> dict[str, Any]:
        """Open positions: quantity, average and last price, P&L, days held, stop, take-profit
        and trailing levels (Telegram's /positions)."""
        with database() as db:
            rows = service.positions(db, s, asof=_iso(asof))
        return _plain({"count": len(rows), "positions": rows})

    @server.tool(annotations=READ)
    def analysis(days: Annotated[int, Field(ge=1, le=3650, description="Look back this many calendar days.")] = 30,
                 asof: AsOf = None) -> dict[str, Any]:
        """Signals by rule, risk approvals and rejections by reason, win rate and average return
        by entry rule, exposure by sector, the strategy's filters (Telegram's /analysis)."""
        with database() as db:
            return _plain(service.analysis(db, s, days=days, asof=_iso(asof)))

    @server.tool(annotations=READ)
    def latest_report(asof: AsOf = None) -> dict[str, Any]:
        """The daily report of the newest (or given) date with metrics: equity, P&L, drawdown,
        risk state, positions, fills and decisions with their reasons."""
        from pipeline.stages import report

        with database() as db:
            return _plain(report.build(db, s, _iso(asof)))

    @server.tool(annotations=READ)
    def recent_events(limit: Annotated[int, Field(ge=1, le=500)] = 20,
                      kind: Annotated[str | None, Field(max_length=64, description=(
                          "Only this kind, e.g. trading_stopped, risk_block, unauthorized."))] = None,
                      ) -> dict[str, Any]:
        """The newest events (info, warnings, errors, risk triggers, refused strangers),
        newest first."""
        from db import events as events_db

        with database() as db:
            rows = events_db.recent(db, limit=limit, kind=kind)
        return _plain({"count": len(rows), "events": rows})

    @server.tool(annotations=READ)
    def recent_runs(limit: Annotated[int, Field(ge=1, le=500)] = 20,
                    stage: Literal["collect", "signal", "execute", "sync", "report", "reconcile"] | None = None,
                    ) -> dict[str, Any]:
        """The newest stage runs (start, end, outcome, message), newest first."""
        from db import runs as runs_db

        with database() as db:
            rows = runs_db.runs_of(db, stage, limit=limit)
        return _plain({"count": len(rows), "runs": rows})

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True))
    def doctor() -> dict[str, Any]:
        """qtx doctor: config, clock, secrets (names only), broker and keys (read-only calls),
        Telegram, launchd, database, disk, stage runs and lateness, data freshness; each check
        with what to do. ``ok`` is false when any check failed."""
        from pipeline.read.doctor import diagnose

        return _plain(diagnose(s.config_path).to_dict())

    if s.mcp.allow_control:
        @server.tool(annotations=CONTROL)
        def pause_buys(reason: Annotated[str, Field(min_length=1, max_length=200,
                                                    description="Why, in the operator's words.")]
                       ) -> dict[str, Any]:
            """Block new BUYs, as Telegram's /stop does (exits and sells still run). Recorded as an
            event by 'mcp'."""
            with database() as db:
                return _plain(service.set_trading(db, False, by=BY, reason=reason))

        @server.tool(annotations=CONTROL)
        def resume_buys() -> dict[str, Any]:
            """Allow new BUYs again, as Telegram's /start does. Other blocks (a reconcile
            difference, a daily loss) stay until their own cause clears; the answer lists them."""
            with database() as db:
                return _plain(service.set_trading(db, True, by=BY, reason="mcp resume_buys"))

    return server


def serve(settings: Settings) -> None:
    """Serve on stdin/stdout until the client closes them."""
    build(settings).run("stdio")
