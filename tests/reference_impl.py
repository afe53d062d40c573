"""Independent, deliberately slow reference implementation of qtx trading rules v1.

Written from ``/work/shared/spec/trading-rules.md`` alone (not from qtx's engine), so that a
row-for-row diff against ``pipeline.engine.simulate`` catches any place where either side
drifts from the spec. Plain loops and lists; every indicator is recomputed from the symbol's
own bars each day; every comparison goes through ``eq/gt/ge/lt/le`` (the spec's tolerance rule).

``run_reference(bars, sectors, ...) -> (trades, equity)``: ``bars`` maps symbol -> list of dicts
with date, open, high, low, close, volume (ascending); dates are any mutually comparable values
(ISO strings in the tests). ``trades`` rows: date, symbol, side, qty, price, fee, reason.
``equity`` rows: date, cash, equity, drawdown, positions, buy_blocked, size_multiplier.
"""

from __future__ import annotations

import math

REL = 1e-9

# Sennot parameters (spec defaults).
TREND_N = 240
FAST_N = 5
SLOW_N = 20
VOL_N = 20
GC_VOL_MULT = 1.5
BO_N = 20
BO_VOL_MULT = 1.0
PB_N = 10
PB_DIP_LO = -0.04
PB_DIP_HI = -0.02
STOP_LOSS = 0.04
TRAIL = 0.03
TAKE_PROFIT = 0.07
TP_FRACTION = 0.5
TIME_EXIT = 10


# ---- comparisons (spec: "Numbers and comparisons") ----

def eq(a: float, b: float) -> bool:
    if a == b:
        return True
    # Comparisons with zero are exact; infinities only equal themselves (the tolerance
    # formula would otherwise call inf equal to everything).
    if a == 0 or b == 0 or math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= REL * max(abs(a), abs(b))


def gt(a: float, b: float) -> bool:
    return a > b and not eq(a, b)


def ge(a: float, b: float) -> bool:
    return a > b or eq(a, b)


def lt(a: float, b: float) -> bool:
    return a < b and not eq(a, b)


def le(a: float, b: float) -> bool:
    return a < b or eq(a, b)


def _lot_decimals(lot: float) -> int:
    text = repr(float(lot))
    if "e-" in text:
        return int(text.split("e-")[1]) + 6
    if "." in text:
        frac = text.split(".")[1].rstrip("0")
        return len(frac)
    return 0


def floor_to_lot(x: float, lot: float) -> float:
    n = math.floor(x / lot + 1e-9)
    return round(n * lot, _lot_decimals(lot))


# ---- indicators on one symbol's own bars; i is the index of bar t; None = undefined ----

def sma(rows: list[dict], n: int, i: int) -> float | None:
    if i - n + 1 < 0 or i < 0:
        return None
    total = 0.0
    for k in range(i - n + 1, i + 1):
        total += rows[k]["close"]
    return total / n


def mean_prev(rows: list[dict], field: str, n: int, i: int) -> float | None:
    if i - n < 0:
        return None
    total = 0.0
    for k in range(i - n, i):
        total += rows[k][field]
    return total / n


def entry_signal(rows: list[dict], i: int) -> tuple[str, float] | None:
    """(reason, strength) when Sennot's BUY rules hold at bar i, else None."""
    close = rows[i]["close"]
    trend = sma(rows, TREND_N, i)
    if trend is None or not gt(close, trend):
        return None
    vol = rows[i]["volume"]
    vmean = mean_prev(rows, "volume", VOL_N, i)

    breakout = False
    if i - BO_N >= 0 and vmean is not None:
        hh = rows[i - BO_N]["high"]
        for k in range(i - BO_N, i):
            if rows[k]["high"] > hh:
                hh = rows[k]["high"]
        breakout = gt(close, hh) and gt(vol, BO_VOL_MULT * vmean)

    golden = False
    f_prev, s_prev = sma(rows, FAST_N, i - 1), sma(rows, SLOW_N, i - 1)
    f_now, s_now = sma(rows, FAST_N, i), sma(rows, SLOW_N, i)
    if None not in (f_prev, s_prev, f_now, s_now) and vmean is not None:
        golden = le(f_prev, s_prev) and gt(f_now, s_now) and ge(vol, GC_VOL_MULT * vmean)

    pullback = False
    if i - PB_N >= 0:
        ref = rows[i - PB_N]["close"]
        for k in range(i - PB_N, i):
            if rows[k]["close"] > ref:
                ref = rows[k]["close"]
        if ref != 0:
            dip = rows[i - 1]["close"] / ref - 1
            pullback = ge(dip, PB_DIP_LO) and le(dip, PB_DIP_HI) and gt(close, rows[i - 1]["close"])

    names = [n for n, ok in (("breakout", breakout), ("golden_cross", golden),
                             ("pullback", pullback)) if ok]
    if not names:
        return None
    if vmean is None:
        strength = math.nan  # cannot happen: the trend filter needs 240 bars
    elif vmean == 0:
        strength = math.inf
    else:
        strength = vol / vmean
    return "+".join(names), strength


def _cmp_candidates(a: dict, b: dict) -> int:
    # Strength descending (a tie under the spec's equality is a tie), then symbol ascending.
    if not eq(a["strength"], b["strength"]):
        return -1 if a["strength"] > b["strength"] else 1
    if a["symbol"] < b["symbol"]:
        return -1
    if a["symbol"] > b["symbol"]:
        return 1
    return 0


def _sort_candidates(cands: list[dict]) -> list[dict]:
    # Plain insertion sort: obvious, and deterministic even for near-tie chains.
    out: list[dict] = []
    for c in cands:
        pos = len(out)
        for k in range(len(out)):
            if _cmp_candidates(c, out[k]) < 0:
                pos = k
                break
        out.insert(pos, c)
    return out


def run_reference(bars, sectors, capital=100_000_000, commission=0.00015, sell_tax=0.0020,
                  slippage_bps=0, max_positions=8, sector_cap=0.40, daily_loss_limit=-0.03,
                  drawdown_limit=-0.10, dd_multiplier=0.5, start=None, end=None, lot=1.0,
                  min_notional=0.0, verdicts=None, open_orders=None):
    """See the module docstring.  ``verdicts``, if a list, receives one dict per BUY candidate
    (date, symbol, reason: "approved" or the first failing check, qty); ``open_orders``, if a
    list, receives the orders still open after the last date (symbol, side, qty, reason)."""
    slip = slippage_bps / 10000
    # Bars after `end` are never seen.
    rows_of: dict[str, list[dict]] = {}
    for sym in sorted(bars):
        rows = [dict(r) for r in bars[sym] if end is None or r["date"] <= end]
        for r in rows:
            for f in ("open", "high", "low", "close", "volume"):
                r[f] = float(r[f])
        rows_of[sym] = rows
    index_of: dict[str, dict] = {s: {r["date"]: k for k, r in enumerate(rows)}
                                 for s, rows in rows_of.items()}
    all_dates = set()
    for rows in rows_of.values():
        for r in rows:
            all_dates.add(r["date"])
    dates = sorted(d for d in all_dates if start is None or d >= start)

    def sector_of(sym: str) -> str:
        sec = sectors.get(sym) if sectors else None
        return sec if sec else "\x00own:" + sym  # a symbol without a sector is its own sector

    def last_close(sym: str, t) -> float:
        if t in index_of[sym]:
            return rows_of[sym][index_of[sym][t]]["close"]
        best = None
        for r in rows_of[sym]:
            if r["date"] <= t:
                best = r["close"]
        return best

    cash = float(capital)
    # sym -> dict(qty, entry, armed, peak, entry_idx)
    positions: dict[str, dict] = {}
    waiting_sells: list[dict] = []  # SELLs whose symbol had no bar at their fill date
    pending_sells: list[dict] = []  # SELLs decided at the previous decision date
    pending_buys: list[dict] = []   # BUYs approved at the previous decision date, in order
    peak_equity = float(capital)
    prev_equity = None
    trades: list[dict] = []
    equity_rows: list[dict] = []

    for t in dates:
        # ---- fills at t's open: waiting SELLs, then new SELLs, each by symbol; then BUYs ----
        still_waiting: list[dict] = []
        for group in (sorted(waiting_sells, key=lambda o: o["symbol"]),
                      sorted(pending_sells, key=lambda o: o["symbol"])):
            for order in group:
                sym = order["symbol"]
                if t not in index_of[sym]:
                    still_waiting.append(order)
                    continue
                bar = rows_of[sym][index_of[sym][t]]
                price = bar["open"] * (1 - slip)
                qty = order["qty"]
                notional = qty * price
                fee = notional * commission + notional * sell_tax
                cash += notional - fee
                pos = positions[sym]
                pos["qty"] = round(pos["qty"] - qty, _lot_decimals(lot))
                if pos["qty"] <= 0:
                    del positions[sym]
                trades.append(dict(date=t, symbol=sym, side="SELL", qty=qty, price=price,
                                   fee=fee, reason=order["reason"]))
        waiting_sells = still_waiting
        pending_sells = []
        for order in pending_buys:
            sym = order["symbol"]
            if t not in index_of[sym]:
                continue  # no_bar_at_fill
            bar = rows_of[sym][index_of[sym][t]]
            price = bar["open"] * (1 + slip)
            qty = order["qty"]
            if qty * price * (1 + commission) > cash:  # exact: cash never goes below zero
                n = math.floor(cash / (price * (1 + commission)) / lot)
                while n > 0 and round(n * lot, _lot_decimals(lot)) * price * (1 + commission) > cash:
                    n -= 1
                while round((n + 1) * lot, _lot_decimals(lot)) * price * (1 + commission) <= cash:
                    n += 1
                qty = round(n * lot, _lot_decimals(lot))
                if qty <= 0:
                    continue  # insufficient_cash_at_fill
            notional = qty * price
            fee = notional * commission
            cash -= notional + fee
            positions[sym] = dict(qty=qty, entry=price, armed=False, peak=None,
                                  entry_idx=index_of[sym][t])
            trades.append(dict(date=t, symbol=sym, side="BUY", qty=qty, price=price, fee=fee,
                               reason=order["reason"]))
        pending_buys = []

        # ---- risk state at t's close ----
        equity = cash
        for sym in sorted(positions):
            equity += positions[sym]["qty"] * last_close(sym, t)
        if equity > peak_equity:
            peak_equity = equity
        daily_return = 0.0 if prev_equity is None else equity / prev_equity - 1
        drawdown = equity / peak_equity - 1
        prev_equity = equity
        n_positions = len(positions)

        # ---- Sennot exits ----
        waiting_syms = {o["symbol"] for o in waiting_sells}
        sells_today: list[dict] = []
        for sym in sorted(positions):
            if sym in waiting_syms or t not in index_of[sym]:
                continue
            pos = positions[sym]
            i = index_of[sym][t]
            close = rows_of[sym][i]["close"]
            held = i - pos["entry_idx"]
            if pos["armed"] and close > pos["peak"]:
                pos["peak"] = close
            if not pos["armed"] and le(close, pos["entry"] * (1 - STOP_LOSS)):
                sells_today.append(dict(symbol=sym, qty=pos["qty"], reason="stop_loss"))
            elif pos["armed"] and le(close, pos["peak"] * (1 - TRAIL)):
                sells_today.append(dict(symbol=sym, qty=pos["qty"], reason="trailing_stop"))
            elif not pos["armed"] and ge(close, pos["entry"] * (1 + TAKE_PROFIT)):
                pos["armed"] = True
                pos["peak"] = close
                q = floor_to_lot(pos["qty"] * TP_FRACTION, lot)
                if q > 0:
                    sells_today.append(dict(symbol=sym, qty=q, reason="take_profit"))
            elif not pos["armed"] and held >= TIME_EXIT:
                sells_today.append(dict(symbol=sym, qty=pos["qty"], reason="time_exit"))
        sold_syms = {o["symbol"] for o in sells_today}

        # ---- Sennot entries ----
        cands: list[dict] = []
        for sym in sorted(rows_of):
            if sym in positions or sym in sold_syms or t not in index_of[sym]:
                continue
            sig = entry_signal(rows_of[sym], index_of[sym][t])
            if sig is None:
                continue
            cands.append(dict(symbol=sym, reason=sig[0], strength=sig[1],
                              close=rows_of[sym][index_of[sym][t]]["close"]))

        # ---- risk layer ----
        buy_blocked = 1 if lt(daily_return, daily_loss_limit) else 0
        multiplier = dd_multiplier if lt(drawdown, drawdown_limit) else 1.0
        sell_qty = {o["symbol"]: o["qty"] for o in sells_today}
        approved: list[dict] = []

        def verdict(c, why, qty=0.0, t=t):
            if verdicts is not None:
                verdicts.append(dict(date=t, symbol=c["symbol"], reason=why, qty=qty))

        if buy_blocked:
            for c in _sort_candidates(cands):
                verdict(c, "daily_loss_block")
        else:
            for c in _sort_candidates(cands):
                held_after = 0
                for sym, pos in positions.items():
                    if round(pos["qty"] - sell_qty.get(sym, 0.0), _lot_decimals(lot)) > 0:
                        held_after += 1
                if not (held_after + len(approved) < max_positions):
                    verdict(c, "max_positions")
                    continue
                close = c["close"]
                qty = floor_to_lot(equity / max_positions * multiplier / close, lot)
                if not (qty > 0 and ge(qty * close, min_notional)):
                    verdict(c, "min_order", qty)
                    continue
                sell_terms = []
                for o in sells_today:
                    n = o["qty"] * rows_of[o["symbol"]][index_of[o["symbol"]][t]]["close"]
                    sell_terms.append(n - n * commission - n * sell_tax)
                buy_terms = [a["qty"] * a["close"] * (1 + commission) for a in approved]
                if not (cash + sum(sell_terms) - sum(buy_terms)
                        - qty * close * (1 + commission) >= 0):
                    verdict(c, "cash", qty)
                    continue
                sec = sector_of(c["symbol"])
                value = 0.0
                for sym in sorted(positions):
                    if sector_of(sym) == sec:
                        left = positions[sym]["qty"] - sell_qty.get(sym, 0.0)
                        value += left * last_close(sym, t)
                for a in approved:
                    if sector_of(a["symbol"]) == sec:
                        value += a["qty"] * a["close"]
                value += qty * close
                if not le(value, sector_cap * equity):
                    verdict(c, "sector_cap", qty)
                    continue
                verdict(c, "approved", qty)
                approved.append(dict(symbol=c["symbol"], qty=qty, close=close,
                                     reason=c["reason"]))

        equity_rows.append(dict(date=t, cash=cash, equity=equity, drawdown=drawdown,
                                positions=n_positions, buy_blocked=buy_blocked,
                                size_multiplier=multiplier))
        pending_sells = sells_today
        pending_buys = approved

    if open_orders is not None:
        for o in waiting_sells + pending_sells:
            open_orders.append(dict(symbol=o["symbol"], side="SELL", qty=o["qty"],
                                    reason=o["reason"]))
        for o in pending_buys:
            open_orders.append(dict(symbol=o["symbol"], side="BUY", qty=o["qty"],
                                    reason=o["reason"]))
    return trades, equity_rows
