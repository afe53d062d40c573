"""The layer rules of shared/design.md, checked on the import graph: each package imports only
the layers below it, so a backtest, a paper run and a live run share the pure core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"cli", "sennot", "risk", "brokers", "db", "pipeline", "control", "launchd"}
# package -> the packages of ours it may import (itself always).
ALLOWED = {
    "sennot": set(),
    "risk": {"sennot"},
    "brokers": {"sennot"},            # plain types and the numeric rule only
    "db": set(),
    "pipeline": {"sennot", "risk", "brokers", "db"},
    "control": {"pipeline", "db"},
    "cli": {"pipeline", "control", "launchd"},
    "launchd": {"pipeline"},          # the market timetable (pipeline.schedule.timetable) only
}
LAUNCHD_MAY_USE = {"pipeline.schedule.timetable"}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for pkg, allowed in ALLOWED.items():
        for f in sorted((root / pkg).rglob("*.py")):
            for mod in imports_of(f):
                top = mod.split(".")[0]
                if top not in OURS or top == pkg:
                    continue
                if top not in allowed or (pkg == "launchd" and mod not in LAUNCHD_MAY_USE):
                    bad.append(f"{f.relative_to(root)} imports {mod}")
    return bad


def test_no_layer_imports_upward():
    assert violations() == []


def test_the_checker_finds_a_violation(tmp_path):
    for pkg in OURS:
        (tmp_path / pkg).mkdir()
    (tmp_path / "sennot" / "bad.py").write_text("from pipeline.engine import simulate\n")
    (tmp_path / "cli" / "bad.py").write_text("import db.trading\n")
    assert sorted(violations(tmp_path)) == ["cli/bad.py imports db.trading", "sennot/bad.py imports pipeline.engine"]


@pytest.mark.parametrize("pkg", sorted(ALLOWED))
def test_every_package_exists(pkg):
    assert (ROOT / pkg / "__init__.py").exists()
