"""A small paper-trading world for pipeline tests: a synthetic market as CSV files, a config,
a database, and helpers to drive the daily stages day by day (in-process or as subprocesses)."""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from db import open_db, trading
from pipeline.config import load
from pipeline.feeds import sample_market
from pipeline.stages.collect import collect_csv
from pipeline.stages.execute import run_execute
from pipeline.stages.signal import run_signal


def write_market_csv(frames: dict, sectors: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for sym, df in frames.items():
        df.to_csv(folder / f"{sym}.csv", index=False)
    with open(folder / "sectors.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "sector"])
        for s, sec in sectors.items():
            w.writerow([s, sec])
    return folder


@dataclass
class World:
    root: Path
    csv_dir: Path
    config: Path
    dates: list[str]

    @property
    def settings(self):
        return load(self.config)

    def db(self, name: str | None = None):
        s = self.settings
        path = s.db_path if name is None else self.root / name
        return open_db(path, market=s.market, mode=s.mode, create=True, capital=s.capital)

    def day(self, db, d: str, execute: bool = True) -> None:
        """One trading day as launchd would run it: collect, signal, execute."""
        s = self.settings
        collect_csv(db, s, self.csv_dir, asof=d)
        run_signal(db, s, d)
        if execute:
            run_execute(db, s, d)

    def qtx(self, qtx_bin: str, *args: str, env: dict | None = None, check: bool = True):
        import os

        full_env = {k: v for k, v in os.environ.items() if k not in ("QTX_CONFIG", "QTX_FAULT")}
        full_env.update(env or {})
        res = subprocess.run([qtx_bin, "--config", str(self.config), *args], capture_output=True, text=True,
                             env=full_env, timeout=120)
        if check and res.returncode != 0:
            raise AssertionError(f"qtx {' '.join(args)} exited {res.returncode}: {res.stderr}")
        return res


def make_world(root: Path, n_symbols: int = 16, n_days: int = 420, seed: int = 7, end: str | None = None,
               **config) -> World:
    """``end``: place the synthetic market so its last business day is this date."""
    start = "2023-01-02"
    if end is not None:
        import pandas as pd

        start = pd.bdate_range(end=end, periods=n_days)[0].strftime("%Y-%m-%d")
    frames = sample_market.generate(seed=seed, n_symbols=n_symbols, n_days=n_days, start=start)
    csv_dir = write_market_csv(frames, sample_market.sectors(n_symbols), root / "csv")
    cfg = root / "qtx.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    dates = sorted({d for df in frames.values() for d in df["date"]})
    return World(root, csv_dir, cfg, dates)


def trade_rows(db) -> list[tuple]:
    return [(f["date"], f["symbol"], f["side"], f["qty"], f["price"], f["fee"], f["reason"])
            for f in trading.fills_between(db)]
