"""KRX holidays come from a table made from the installed ``holidays`` package, so a stage
does not pay 0.4 s to load the package; the table must say what the package says, and step
aside when the installed package is another version."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from pipeline.schedule import calendar as cal
from pipeline.schedule import krx_holiday_table as table
from pipeline.schedule import krx_holidays


def test_the_table_is_what_the_installed_package_says():
    assert table.HOLIDAYS_VERSION == krx_holidays.installed_version(), \
        "holidays was upgraded: regenerate the table with `python -m pipeline.schedule.krx_holidays`"
    for year in range(krx_holidays.FIRST_YEAR, krx_holidays.LAST_YEAR + 1):
        assert krx_holidays.for_year(year) == krx_holidays.from_package(year), year
    assert krx_holidays.TABLE_FILE.read_text(encoding="utf-8") == krx_holidays.render()


def test_a_stage_deciding_trading_days_does_not_load_the_package(repo_root):
    code = ("import sys; from datetime import date; from pipeline.schedule import calendar as c; "
            "days = [c.is_trading_day('krx', date(y, 1, 2)) for y in (2001, 2024, 2050)]; "
            "print(days, 'holidays' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[True, True, False] False"  # 2050-01-02 is a Sunday


@pytest.mark.parametrize("version", ["0.0", "999.1"])
def test_another_installed_version_is_asked_directly(monkeypatch, version):
    monkeypatch.setattr(krx_holidays, "installed_version", lambda: version)
    cal._xkrx.cache_clear()
    try:
        assert krx_holidays.for_year(2024) is None
        loaded = []
        real = krx_holidays.from_package
        monkeypatch.setattr(krx_holidays, "from_package", lambda y: loaded.append(y) or real(y))
        assert cal.closure_reason("krx", date(2024, 4, 10)) == \
            "2024-04-10 is a KRX holiday (National Assembly Election Day)"
        assert loaded == [2024]
    finally:
        cal._xkrx.cache_clear()


def test_years_outside_the_table_come_from_the_package(monkeypatch):
    cal._xkrx.cache_clear()
    loaded = []
    monkeypatch.setattr(krx_holidays, "from_package", lambda y: loaded.append(y) or {})
    try:
        cal.closure_reason("krx", date(krx_holidays.LAST_YEAR + 1, 1, 3))
        cal.closure_reason("krx", date(2024, 1, 3))
        assert loaded == [krx_holidays.LAST_YEAR + 1]
    finally:
        cal._xkrx.cache_clear()
