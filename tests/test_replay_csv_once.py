"""``qtx replay --source csv`` reads each bar file once, however many dates it replays (it
used to read every file again for every date), and gives what collecting day by day gives."""

from __future__ import annotations

from collections import Counter

import pytest

from db import trading
from pipeline.feeds import csv_bars
from pipeline.stages.replay import run_replay
from tests.paper_world import make_world, trade_rows


@pytest.fixture
def reads(monkeypatch):
    counted: Counter = Counter()
    real = csv_bars.read_file

    def counting(path, symbol=None):
        counted[path.name] += 1
        return real(path, symbol)

    monkeypatch.setattr(csv_bars, "read_file", counting)
    monkeypatch.setattr(csv_bars.CsvFolder, "_last", None)
    return counted


def test_the_cli_replay_reads_each_file_once(tmp_path, run_cli, reads):
    world = make_world(tmp_path, n_symbols=6, n_days=300)
    world.db().close()
    code, _, err = run_cli(["--config", world.config, "replay", "--source", "csv", "--path", world.csv_dir,
                            "--start", world.dates[-12], "--json"])
    assert code == 0, err
    files = {p.name for p in csv_bars.bar_files(world.csv_dir)}
    assert len(files) == 6 and reads == Counter({f: 1 for f in files})


def test_replay_from_csv_equals_collecting_day_by_day(tmp_path, reads):
    world = make_world(tmp_path, n_symbols=8, n_days=320)
    window = world.dates[-15:]
    a, b = world.db("a.sqlite"), world.db("b.sqlite")
    run_replay(a, world.settings, window, source="csv", path=world.csv_dir)
    assert max(reads.values()) == 1
    for d in window:  # the collect of each day reads the folder afresh
        world.day(b, d)
    assert trade_rows(a) == trade_rows(b) and trade_rows(a)
    def metrics(db):
        return [{k: v for k, v in m.items() if k != "updated_at"} for m in trading.metrics_series(db)]

    assert metrics(a) == metrics(b)
    bars = "SELECT symbol, date, open, high, low, close, volume FROM bars ORDER BY symbol, date"
    assert a.query(bars) == b.query(bars)


def test_a_file_changed_during_a_replay_is_read_again(tmp_path, reads):
    world = make_world(tmp_path, n_symbols=3, n_days=300)
    folder = csv_bars.CsvFolder.of(world.csv_dir)
    path = csv_bars.bar_files(world.csv_dir)[0]
    first = folder.read(path)
    assert folder.read(path) is first and reads[path.name] == 1
    path.write_text(path.read_text() + "", encoding="utf-8")  # same size, newer time
    import os

    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert folder.read(path) is not first and reads[path.name] == 2
