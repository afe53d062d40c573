"""``qtx mcp`` driven by the MCP SDK's own client over stdio, as an assistant would: the
read-only tools answer with JSON from the same service layer as the CLI and Telegram; typed
inputs refuse bad values; the control tools are absent unless ``mcp.allow_control`` is on, and
then act and are recorded like /stop and /start.  Nothing that trades is ever listed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("mcp", reason="the optional mcp extra is not installed (make install adds it)")

from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

from control.mcp_server import CONTROL_TOOLS, READ_TOOLS  # noqa: E402
from db import control as control_db  # noqa: E402
from db import events as events_db  # noqa: E402
from db import open_db  # noqa: E402
from pipeline.config import load  # noqa: E402
from pipeline.read import service  # noqa: E402

pytestmark = pytest.mark.timeout(240)
QTX = str(Path(sys.executable).with_name("qtx"))
TRADING_WORDS = ("order", "cancel", "place", "execute", "buy_now", "sell", "trade", "amend", "stage")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A demo workspace that has run a couple of days (runs, metrics, positions, signals)."""
    root = tmp_path_factory.mktemp("mcp") / "demo"
    subprocess.run([QTX, "init", str(root), "--demo"], check=True, capture_output=True)
    cfg = root / "qtx.yaml"
    raw = yaml.safe_load(cfg.read_text())
    raw["kiwoom"]["endpoint"] = "http://127.0.0.1:9"  # the doctor tool must not reach Kiwoom
    cfg.write_text(yaml.safe_dump(raw))
    subprocess.run([QTX, "--config", str(cfg), "replay", "--days", "2"], check=True, capture_output=True)
    return cfg


def with_control(cfg: Path) -> Path:
    """A second config on the same database with the control tools on."""
    raw = yaml.safe_load(cfg.read_text())
    raw["mcp"] = {"allow_control": True}
    raw["database"] = str(load(cfg).db_path)
    out = cfg.with_name("qtx-control.yaml")
    out.write_text(yaml.safe_dump(raw))
    return out


def run_session(cfg: Path, script):
    """Start ``qtx --config CFG mcp``, initialize, run ``await script(session)``, return its value."""
    async def main():
        params = StdioServerParameters(command=QTX, args=["--config", str(cfg), "mcp"])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await script(session)

    return asyncio.run(main())


def structured(res) -> dict:
    assert not res.is_error, res.content
    assert isinstance(res.structured_content, dict)
    # The text content is the same document, for clients that read only text.
    assert json.loads(res.content[0].text) == res.structured_content
    return res.structured_content


def plain(x):
    return json.loads(json.dumps(x, default=str))


def test_read_only_tools_answer_from_the_service_layer(demo):
    async def script(s):
        listed = (await s.list_tools()).tools
        out = {"tools": {t.name: t for t in listed}}
        for name in READ_TOOLS:
            out[name] = structured(await s.call_tool(name, {}))
        out["analysis_7"] = structured(await s.call_tool("analysis", {"days": 7}))
        out["runs_signal"] = structured(await s.call_tool("recent_runs", {"stage": "signal", "limit": 1}))
        out["bad"] = [await s.call_tool("analysis", {"days": 0}),
                      await s.call_tool("recent_runs", {"stage": "execute_now"}),
                      await s.call_tool("positions", {"asof": "yesterday"}),
                      await s.call_tool("pause_buys", {"reason": "x"})]
        return out

    got = run_session(demo, script)
    tools = got["tools"]
    assert set(tools) == set(READ_TOOLS)  # no control tools by default
    assert not [n for n in tools if any(w in n for w in TRADING_WORDS)]
    for t in tools.values():
        assert t.annotations.read_only_hint is True, t.name
        assert t.output_schema is not None and t.description

    s = load(demo)
    db = open_db(s.db_path, market=s.market, mode=s.mode)
    try:
        status = got["status"]
        assert (status["market"], status["mode"]) == ("krx", "paper")
        assert status["runs"] == plain(service.status(db, s))["runs"]
        assert got["positions"]["positions"] == plain(service.positions(db, s))
        assert got["positions"]["count"] > 0
        assert got["analysis"] == plain(service.analysis(db, s))
        assert got["analysis_7"]["since"] > got["analysis"]["since"]
        assert got["latest_report"]["date"] == status["metrics"]["date"] and not got["latest_report"]["empty"]
        assert got["recent_runs"]["count"] == len(got["recent_runs"]["runs"]) > 0
        assert [r["stage"] for r in got["runs_signal"]["runs"]] == ["signal"]
        assert isinstance(got["recent_events"]["events"], list)
    finally:
        db.close()
    doc = got["doctor"]
    assert {"ok", "counts", "checks"} <= set(doc)
    assert {c["name"] for c in doc["checks"]} >= {"config", "secrets", "database", "data"}
    for res in got["bad"]:
        assert res.is_error
    assert "greater than or equal to 1" in got["bad"][0].content[0].text
    assert "pause_buys" in got["bad"][3].content[0].text  # unknown tool


def test_control_tools_only_when_enabled_and_recorded_like_stop_and_start(demo):
    cfg = with_control(demo)

    async def script(s):
        names = {t.name for t in (await s.list_tools()).tools}
        paused = structured(await s.call_tool("pause_buys", {"reason": "holiday week"}))
        status = structured(await s.call_tool("status", {}))
        empty = await s.call_tool("pause_buys", {"reason": ""})
        resumed = structured(await s.call_tool("resume_buys", {}))
        return names, paused, status, empty, resumed

    names, paused, status, empty, resumed = run_session(cfg, script)
    assert names == set(READ_TOOLS) | set(CONTROL_TOOLS)
    assert paused["trading_enabled"] is False and "trading stopped: holiday week" in paused["buy_block_reasons"]
    assert status["trading_enabled"] is False and status["buys_blocked"] is True
    assert empty.is_error  # a pause needs a reason
    assert resumed["trading_enabled"] is True

    s = load(cfg)
    db = open_db(s.db_path, market=s.market, mode=s.mode)
    try:
        flag = control_db.flags(db)["trading_enabled"]
        assert flag["value"] is True and flag["updated_by"] == "mcp"
        stopped = events_db.recent(db, kind="trading_stopped")[0]
        started = events_db.recent(db, kind="trading_enabled")[0]
        assert stopped["data"] == {"by": "mcp", "reason": "holiday week"}
        assert started["data"]["by"] == "mcp" and started["id"] > stopped["id"]
    finally:
        db.close()


def test_without_the_extra_the_command_says_how_to_install_it(demo, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "mcp.server.mcpserver", None)  # as if `mcp` were absent
    code, out, err = run_cli(["--config", demo, "mcp"])
    assert code == 2 and out == ""
    assert "pip install -e '.[mcp]'" in err and "make install" in err
    assert len(err.strip().splitlines()) == 1
