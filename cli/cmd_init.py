"""``qtx init``: write a commented qtx.yaml and create the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import EXIT_USAGE, emit_json, fail, guarded, out
from cli.main import app


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for qtx.yaml and data/ (created if missing).")] = Path("."),
    market: Annotated[str, typer.Option("--market", help="krx or bybit.")] = "krx",
    demo: Annotated[bool, typer.Option("--demo", help="Also load the synthetic sample market (36 symbols, ~3 years).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing qtx.yaml and DELETE its database.")] = False,
    mode: Annotated[str, typer.Option("--mode", help="paper, or live: writes qtx-live.yaml beside a paper "
                             "qtx.yaml (its settings carried over) and creates the live database.")] = "paper",
    max_order_notional: Annotated[float | None, typer.Option(
        "--max-order-notional", help="With --mode live (required): the largest notional one "
        "order may have, in KRW (krx) or the quote coin (bybit).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was created as one JSON document.")] = False,
) -> None:
    """Write a commented qtx.yaml (every key at its default) and create the database.

    Never replaces an existing config or database unless --force is given. With --demo the
    database also gets the synthetic sample market (labelled 'synthetic' wherever shown).

    From paper to live: `qtx init DIR --mode live --max-order-notional 5000000` writes
    DIR/qtx-live.yaml next to the paper DIR/qtx.yaml, with the same settings and its own
    database; run it with `qtx --config DIR/qtx-live.yaml ...`. The first live `execute` asks
    for confirmation (or takes --yes).
    """
    from pipeline.init_project import InitRefused, InitUsage, init_project

    if market not in ("krx", "bybit"):
        fail(f"--market must be krx or bybit, not {market!r}", EXIT_USAGE)
    if mode not in ("paper", "live"):
        fail(f"--mode must be paper or live, not {mode!r}", EXIT_USAGE)

    def body():
        try:
            res = init_project(directory, market=market, demo=demo, force=force, mode=mode,
                               max_order_notional=max_order_notional)
        except (InitRefused, InitUsage) as e:
            fail(str(e), EXIT_USAGE)
        if as_json:
            emit_json(res)
            return
        out.print(f"wrote [bold]{res['config']}[/]", soft_wrap=True)
        out.print(f"created database {res['database']} "
                  f"({res['market']}/{res['mode']}, schema v{res['schema_version']})", soft_wrap=True)
        if res["demo"]:
            d = res["demo"]
            out.print(f"loaded the [bold]synthetic[/] sample market: {d['symbols']} symbols, "
                      f"{d['bars']} bars, {d['first_date']} .. {d['last_date']}", soft_wrap=True)
        out.print(f"next: qtx --config {res['config']} status", soft_wrap=True)

    guarded(body)
