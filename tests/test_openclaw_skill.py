"""The OpenClaw skill: its front matter is what OpenClaw reads, every command it names runs and
prints valid JSON on a demo workspace, and its wrapper refuses everything else (stages,
options, a foreign config, the caller's environment) without ever starting qtx."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SKILL = ROOT / "integrations" / "openclaw" / "qtx" / "SKILL.md"
WRAPPER = ROOT / "integrations" / "openclaw" / "qtx" / "bin" / "qtx-readonly"
DOCS = ROOT / "docs" / "openclaw.md"
QTX = str(Path(sys.executable).with_name("qtx"))
STAGES = ("collect", "signal", "execute", "sync", "report", "reconcile", "replay", "backtest",
          "init", "launchd", "telegram", "mcp")


def front_matter(text: str) -> tuple[dict, list[str]]:
    m = re.match(r"\A---\n(.*?)\n---\n", text, re.S)
    assert m, "SKILL.md must start with YAML front matter between --- lines"
    return yaml.safe_load(m.group(1)), m.group(1).splitlines()


def named_commands() -> list[list[str]]:
    """Every `qtx-readonly ...` command line the skill tells the assistant to run."""
    found = re.findall(r"`(qtx-readonly [^`]*)`", SKILL.read_text(encoding="utf-8"))
    return [c.split()[1:] for c in dict.fromkeys(found)]


def wrapper(tmp_path: Path, qtx: str, config: Path) -> Path:
    """The wrapper as an operator installs it: the two paths set, executable."""
    text = WRAPPER.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^QTX=.*$", f"QTX={qtx}", text)
    text = re.sub(r"(?m)^CONFIG=.*$", f"CONFIG={config}", text)
    out = tmp_path / "qtx-readonly"
    out.write_text(text, encoding="utf-8")
    out.chmod(0o755)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("skill") / "demo"
    subprocess.run([QTX, "init", str(root), "--demo"], check=True, capture_output=True)
    cfg = root / "qtx.yaml"
    raw = yaml.safe_load(cfg.read_text())
    raw["kiwoom"]["endpoint"] = "http://127.0.0.1:9"  # doctor must not reach Kiwoom
    cfg.write_text(yaml.safe_dump(raw))
    return cfg


def test_front_matter_is_what_openclaw_reads():
    meta, lines = front_matter(SKILL.read_text(encoding="utf-8"))
    assert meta["name"] == "qtx" == SKILL.parent.name
    assert 50 < len(meta["description"]) <= 1024 and "Use when" in meta["description"]
    # OpenClaw's parser wants metadata as one line of JSON.
    line = next(x for x in lines if x.startswith("metadata:"))
    assert json.loads(line.split(":", 1)[1]) == meta["metadata"]
    oc = meta["metadata"]["openclaw"]
    assert oc["requires"]["bins"] == ["qtx-readonly"]  # never qtx itself: see docs/openclaw.md
    assert set(oc["os"]) <= {"darwin", "linux", "win32"}
    assert os.access(WRAPPER, os.X_OK) and WRAPPER.stat().st_mode & stat.S_IXOTH


def test_the_skill_names_the_read_only_commands_and_forbids_the_stages():
    cmds = named_commands()
    assert {c[0] for c in cmds} == {"status", "positions", "analysis", "doctor"}
    text = SKILL.read_text(encoding="utf-8")
    never = text.split("## Never", 1)[1].split("##", 1)[0]
    for stage in set(STAGES) - {"mcp"}:
        assert f"`{stage}`" in never, stage


def test_every_command_the_skill_names_returns_valid_json(demo, tmp_path):
    ro = wrapper(tmp_path, QTX, demo)
    seen = {}
    for args in named_commands():
        p = subprocess.run([str(ro), *args], capture_output=True, text=True, timeout=120)
        ok_codes = (0, 1) if args[0] == "doctor" else (0,)  # doctor: 1 = a check failed
        assert p.returncode in ok_codes, (args, p.stderr)
        seen[" ".join(args)] = json.loads(p.stdout)
    assert seen["status"]["data"]["source"] == "synthetic"
    assert isinstance(seen["positions"], list)
    assert seen["analysis --days 7"]["days"] == 7
    assert {"ok", "checks"} <= set(seen["doctor"])


@pytest.mark.parametrize("args", [
    *[[s] for s in STAGES],
    ["reconcile", "--dry-run"], ["launchd", "catchup", "--dry-run"],
    ["status", "--config", "/tmp/other.yaml"], ["--config", "/tmp/other.yaml", "status"],
    ["positions", "--asof", "2026-01-01; rm -rf ~"], ["positions", "--asof"],
    ["analysis", "--days", "7x"], ["status", "--asof", "2026-01-01"], ["doctor", "-v"], [],
])
def test_the_wrapper_refuses_everything_else_without_starting_qtx(tmp_path, args):
    marker = tmp_path / "ran"
    fake_qtx = tmp_path / "fake-qtx"
    fake_qtx.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake_qtx.chmod(0o755)
    ro = wrapper(tmp_path, str(fake_qtx), tmp_path / "qtx.yaml")
    p = subprocess.run([str(ro), *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "qtx-readonly:" in p.stderr and p.stdout == ""
    assert not marker.exists()


def test_the_wrapper_passes_fixed_arguments_and_a_clean_environment(tmp_path):
    seen = tmp_path / "seen"
    fake_qtx = tmp_path / "fake-qtx"
    fake_qtx.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {seen}\nenv >> {seen}\n')
    fake_qtx.chmod(0o755)
    ro = wrapper(tmp_path, str(fake_qtx), tmp_path / "qtx.yaml")
    env = dict(os.environ, PYTHONPATH="/evil", QTX_CONFIG="/evil.yaml", QTX_NOW="2020-01-01T00:00:00Z")
    p = subprocess.run([str(ro), "analysis", "--days", "7", "--asof", "2026-11-20"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = seen.read_text().splitlines()
    assert lines[:7] == ["--config", str(tmp_path / "qtx.yaml"), "analysis", "--days", "7", "--asof", "2026-11-20"]
    assert lines[7] == "--json"
    assert not [x for x in lines if x.startswith(("PYTHONPATH=", "QTX_"))]


def test_the_docs_give_the_allow_list_entry_the_mcp_line_and_the_warnings():
    docs = DOCS.read_text(encoding="utf-8")
    assert "openclaw approvals allowlist add --agent main /usr/local/bin/qtx-readonly" in docs
    assert '"pattern": "/usr/local/bin/qtx-readonly"' in docs
    assert re.search(r"openclaw mcp add qtx --command \S+/qtx --arg mcp", docs)
    assert "409 Conflict" in docs and "separate bot token" in docs.lower()
    assert "different macOS user" in docs
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "qtx doctor" in readme and "qtx mcp" in readme and "docs/openclaw.md" in readme


def test_the_docs_list_every_mcp_tool():
    mcp_server = pytest.importorskip("control.mcp_server", reason="the optional mcp extra is not installed")
    docs = DOCS.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(\w+)", docs, re.M))
    assert set(mcp_server.READ_TOOLS) <= listed
    for name in mcp_server.CONTROL_TOOLS:
        assert f"`{name}" in docs
