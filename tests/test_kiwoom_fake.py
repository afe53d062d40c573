"""The local Kiwoom REST fake, exercised with plain ``requests`` calls on 127.0.0.1.

These tests pin the wire behaviour the Kiwoom adapter is written against: token issue and its
failures, paging through ``cont-yn``/``next-key`` headers, orders from acceptance to fills with
commission and tax, T+2 cash, and the faults (1700, dropped answers, slow answers, 5xx).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
import requests

from tests.fakes.kiwoom_rest import KST, FakeKiwoomRest, krx_tick, price_band

SYM, ETF = "005930", "069500"


def weekdays(start: str, n: int) -> list[str]:
    """n weekdays ending the day before ``start`` (YYYY-MM-DD), oldest first."""
    d, out = datetime.strptime(start, "%Y-%m-%d"), []
    while len(out) < n:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            out.append(d.strftime("%Y-%m-%d"))
    return out[::-1]


@pytest.fixture
def kw():
    with FakeKiwoomRest(cash=10_000_000, today="2026-03-03") as kw:
        kw.add_instrument(SYM, "삼성전자")
        kw.add_instrument(ETF, "KODEX 200", market="8", up_name="")
        kw.add_bars(SYM, [("2026-02-26", 69000, 70000, 68500, 69500, 1_000_000),
                          ("2026-02-27", 69500, 70800, 69400, 70000, 1_200_000),
                          ("2026-03-02", 70000, 70500, 69000, 69800, 900_000)])
        kw.add_bars(ETF, [("2026-03-02", 35000, 35200, 34900, 35100, 10_000)])
        yield kw


class Client:
    """The thinnest Kiwoom client: a token, then POSTs with api-id and the paging headers."""

    def __init__(self, kw: FakeKiwoomRest, timeout: float = 2.0):
        self.kw, self.timeout, self.session = kw, timeout, requests.Session()
        self.token = self.issue().json()["token"]

    def issue(self, appkey=None, secretkey=None) -> requests.Response:
        body = {"grant_type": "client_credentials", "appkey": appkey or self.kw.appkey,
                "secretkey": secretkey or self.kw.secretkey}
        return self.session.post(self.kw.url + "/oauth2/token", json=body, timeout=self.timeout,
                                 headers={"Content-Type": "application/json;charset=UTF-8"})

    def tr(self, api_id: str, path: str, body: dict, *, token: str | None = "", cont: tuple | None = None,
           timeout: float | None = None) -> requests.Response:
        headers = {"Content-Type": "application/json;charset=UTF-8", "api-id": api_id}
        if token is not None:
            headers["authorization"] = f"Bearer {token or self.token}"
        if cont:
            headers["cont-yn"], headers["next-key"] = cont
        return self.session.post(self.kw.url + path, json=body, headers=headers,
                                 timeout=timeout or self.timeout)

    def pages(self, api_id: str, path: str, body: dict, key: str) -> list[list[dict]]:
        pages, cont = [], None
        while True:
            r = self.tr(api_id, path, body, cont=cont)
            assert r.json()["return_code"] == 0, r.json()
            pages.append(r.json()[key])
            if r.headers["cont-yn"] != "Y":
                return pages
            cont = ("Y", r.headers["next-key"])

    def buy(self, qty: int, price: int = 0, sym: str = SYM, **kw) -> requests.Response:
        return self.order("kt10000", qty, price, sym, **kw)

    def sell(self, qty: int, price: int = 0, sym: str = SYM, **kw) -> requests.Response:
        return self.order("kt10001", qty, price, sym, **kw)

    def order(self, api_id, qty, price, sym, **kw) -> requests.Response:
        body = {"dmst_stex_tp": "KRX", "stk_cd": sym, "ord_qty": str(qty),
                "ord_uv": str(price) if price else "", "trde_tp": "0" if price else "3", "cond_uv": ""}
        return self.tr(api_id, "/api/dostk/ordr", body, **kw)

    def open_orders(self) -> list[dict]:
        return self.tr("ka10075", "/api/dostk/acnt", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"}).json()["oso"]

    def fills(self, **filters) -> list[dict]:
        body = {"qry_tp": "0", "sell_tp": "0", "stex_tp": "0", "stk_cd": "", "ord_no": "", **filters}
        return self.tr("ka10076", "/api/dostk/acnt", body).json()["cntr"]

    def holdings(self) -> dict:
        return self.tr("kt00018", "/api/dostk/acnt", {"qry_tp": "1", "dmst_stex_tp": "KRX"}).json()

    def cash(self) -> dict:
        return self.tr("kt00001", "/api/dostk/acnt", {"qry_tp": "3"}).json()


@pytest.fixture
def client(kw):
    return Client(kw)


# ---------------------------------------------------------------- token and auth


def test_token_issue_returns_kst_expiry_and_counts(kw):
    before = datetime.now(KST)
    r = Client(kw).issue()
    body = r.json()
    assert r.status_code == 200 and body["return_code"] == 0 and body["token_type"] == "bearer"
    expires = datetime.strptime(body["expires_dt"], "%Y%m%d%H%M%S").replace(tzinfo=KST)
    assert timedelta(hours=23, minutes=59) <= expires - before <= timedelta(hours=24, minutes=1)
    assert kw.tokens_issued == 2                     # the client's own token, then this one
    logged = json.dumps(kw.requests, ensure_ascii=False)
    assert kw.secretkey not in logged and kw.appkey not in logged and body["token"] not in logged


def test_bad_key_is_refused_with_8001_and_issues_nothing(kw):
    c = Client(kw)
    body = c.issue(secretkey="wrong").json()
    assert body["return_code"] == 3 and "[8001:" in body["return_msg"] and "token" not in body
    assert kw.tokens_issued == 1


def test_tr_without_token_bad_token_and_expired_token(kw, client):
    body = {"stk_cd": SYM, "base_dt": "20260303", "upd_stkpc_tp": "1"}
    missing = client.tr("ka10081", "/api/dostk/chart", body, token=None).json()
    assert missing["return_code"] == 2 and "[1513:" in missing["return_msg"]
    bad = client.tr("ka10081", "/api/dostk/chart", body, token="not-a-token").json()
    assert bad["return_code"] == 3 and "[8005:Token이 유효하지 않습니다]" in bad["return_msg"]
    assert client.tr("ka10081", "/api/dostk/chart", body).json()["return_code"] == 0

    kw.expire_token()
    expired = client.tr("ka10081", "/api/dostk/chart", body)
    assert expired.status_code == 200 and "[8005:" in expired.json()["return_msg"]
    client.token = client.issue().json()["token"]
    assert client.tr("ka10081", "/api/dostk/chart", body).json()["return_code"] == 0
    assert kw.requests[-1]["headers"]["authorization"] == "<redacted>"


def test_device_error_answers_every_request_token_included(kw, client):
    kw.device_error(8050)
    token = client.issue().json()
    assert token["return_code"] == 3 and "[8050:" in token["return_msg"] and "token" not in token
    chart = client.tr("ka10081", "/api/dostk/chart", {"stk_cd": SYM, "base_dt": "20260303", "upd_stkpc_tp": "1"})
    assert "[8050:" in chart.json()["return_msg"]
    kw.device_error(None)
    assert client.issue().json()["return_code"] == 0


def test_wrong_path_and_missing_parameter_are_input_errors(client):
    wrong = client.tr("ka10081", "/api/dostk/acnt", {"stk_cd": SYM}).json()
    assert wrong["return_code"] == 2 and "[1504:" in wrong["return_msg"]
    missing = client.tr("ka10081", "/api/dostk/chart", {"stk_cd": SYM, "base_dt": "20260303"}).json()
    assert missing["return_code"] == 2 and "파라미터=upd_stkpc_tp" in missing["return_msg"]


# ---------------------------------------------------------------- market data


def test_chart_pages_newest_first_with_signed_prices(kw, client):
    days = weekdays("2026-02-26", 250)              # before the fixture's three bars
    kw.add_bars(SYM, [(d, 1000 + i, 1010 + i, 990 + i, 1000 + i + (i % 3) - 1, 100 + i) for i, d in enumerate(days)])
    kw.page_size = 100
    body = {"stk_cd": SYM, "base_dt": "20260227", "upd_stkpc_tp": "1"}
    pages = client.pages("ka10081", "/api/dostk/chart", body, "stk_dt_pole_chart_qry")
    assert [len(p) for p in pages] == [100, 100, 52]        # 250 + 2 bars up to base_dt
    sent = kw.calls("ka10081")
    assert [r["headers"].get("cont-yn") for r in sent] == [None, "Y", "Y"]
    assert sent[1]["headers"]["next-key"] and sent[1]["headers"]["next-key"] != sent[2]["headers"]["next-key"]
    rows = [r for p in pages for r in p]
    dates = [r["dt"] for r in rows]
    assert dates == sorted(set(dates), reverse=True) and dates[0] == "20260227"
    newest, prev = rows[0], rows[1]
    assert newest["cur_prc"] == "+70000" and prev["cur_prc"] == "+69500"   # each against the day before
    assert newest["low_pric"] == "-69400" and newest["pred_pre"] == "+500" and newest["pred_pre_sig"] == "2"
    assert rows[-1]["cur_prc"].lstrip("+-").isdigit() and rows[-1]["pred_pre"] == "0"


def test_chart_serves_todays_live_bar_only_up_to_base_dt(kw, client):
    kw.set_live_bar(SYM, 69900, 70100, 69700, 69700, 50_000)
    today = client.tr("ka10081", "/api/dostk/chart", {"stk_cd": SYM, "base_dt": "20260303", "upd_stkpc_tp": "1"})
    rows = today.json()["stk_dt_pole_chart_qry"]
    assert rows[0]["dt"] == "20260303" and rows[0]["cur_prc"] == "-69700" and rows[0]["pred_pre"] == "-100"
    yesterday = client.tr("ka10081", "/api/dostk/chart", {"stk_cd": SYM, "base_dt": "20260302", "upd_stkpc_tp": "1"})
    assert yesterday.json()["stk_dt_pole_chart_qry"][0]["dt"] == "20260302"


def test_chart_of_unknown_symbol_answers_1902(client):
    body = client.tr("ka10081", "/api/dostk/chart", {"stk_cd": "999999", "base_dt": "20260303", "upd_stkpc_tp": "1"}).json()
    assert body["return_code"] == 7 and "[1902:" in body["return_msg"]


def test_instruments_by_market_and_paged(kw, client):
    for i in range(5):
        kw.add_instrument(f"1000{i}0", f"코스닥{i}", market="10", up_name="제약")
    kw.page_size = 2
    pages = client.pages("ka10099", "/api/dostk/stkinfo", {"mrkt_tp": "10"}, "list")
    assert [len(p) for p in pages] == [2, 2, 1]
    assert {r["marketCode"] for p in pages for r in p} == {"10"} and pages[0][0]["upName"] == "제약"
    etf = client.pages("ka10099", "/api/dostk/stkinfo", {"mrkt_tp": "8"}, "list")
    assert [r["code"] for r in etf[0]] == [ETF] and etf[0][0]["nxtEnable"] == "Y"


# ---------------------------------------------------------------- orders


def test_order_visible_then_filled_at_the_open_with_commission(kw, client):
    cash0 = int(client.cash()["ord_alow_amt"])
    limit = client.buy(10, 70000).json()
    market = client.buy(5).json()
    assert limit["return_code"] == 0 and len(limit["ord_no"]) == 7 and limit["dmst_stex_tp"] == "KRX"
    assert market["ord_no"] > limit["ord_no"]
    oso = {r["ord_no"]: r for r in client.open_orders()}
    assert set(oso) == {limit["ord_no"], market["ord_no"]}
    assert oso[limit["ord_no"]]["io_tp_nm"] == "+매수" and oso[limit["ord_no"]]["oso_qty"] == "10"
    assert oso[market["ord_no"]]["ord_pric"] == "0" and oso[market["ord_no"]]["trde_tp"] == "시장가"
    assert int(client.cash()["ord_alow_amt"]) < cash0 - 10 * 70000     # market buy held at the upper limit

    kw.open_auction(prices={SYM: 69900})
    assert client.open_orders() == []
    fills = {r["ord_no"]: r for r in client.fills()}
    assert fills[limit["ord_no"]]["cntr_qty"] == "10" and fills[limit["ord_no"]]["cntr_pric"] == "69900"
    assert fills[limit["ord_no"]]["tdy_trde_cmsn"] == str(int(699_000 * 0.00015))      # 104 won, truncated
    assert fills[market["ord_no"]]["tdy_trde_cmsn"] == str(int(349_500 * 0.00015))     # 52 won
    assert fills[limit["ord_no"]]["tdy_trde_tax"] == "0" and fills[limit["ord_no"]]["ord_stt"] == "체결"

    h = client.holdings()
    row = h["acnt_evlt_remn_indv_tot"][0]
    assert row["stk_cd"] == "A005930" and row["rmnd_qty"] == "000000000015" and row["trde_able_qty"] == "000000000015"
    assert int(row["pur_pric"]) == 69900 and int(h["tot_pur_amt"]) == 15 * 69900
    cost = 15 * 69900 + 104 + 52
    cash = client.cash()
    assert cash["entr"] == "000000010000000"                      # settles on T+2
    assert int(cash["d2_entra"]) == int(cash["ord_alow_amt"]) == 10_000_000 - cost
    kw.set_today("2026-03-05")
    assert int(client.cash()["entr"]) == 10_000_000 - cost


def test_sell_is_taxed_and_frees_the_holding(kw, client):
    client.buy(10)
    kw.open_auction(prices={SYM: 70000})
    sell = client.sell(4, 71000).json()
    assert client.holdings()["acnt_evlt_remn_indv_tot"][0]["trde_able_qty"] == "000000000006"
    kw.open_auction(prices={SYM: 70500})                # does not reach the 71,000 limit
    assert [r["ord_no"] for r in client.open_orders()] == [sell["ord_no"]]
    kw.fill(sell["ord_no"], price=71000)
    row = client.fills(sell_tp="1")[0]
    assert row["io_tp_nm"] == "-매도" and row["tdy_trde_tax"] == str(int(284_000 * 0.0020))   # 568
    assert row["tdy_trde_cmsn"] == "42"
    h = client.holdings()["acnt_evlt_remn_indv_tot"][0]
    assert h["rmnd_qty"] == "000000000006" and int(h["pur_amt"]) == 6 * 70000
    assert int(client.cash()["d2_entra"]) == 10_000_000 - (700_000 + 105) + (284_000 - 42 - 568)


def test_fills_filter_by_symbol_and_older_than(kw, client):
    kw.add_bars("000660", [("2026-03-02", 180000, 181000, 179000, 180000, 1000)])
    a = client.buy(1).json()["ord_no"]
    b = client.buy(1, sym="000660").json()["ord_no"]
    c = client.buy(2).json()["ord_no"]
    kw.open_auction(prices={SYM: 70000, "000660": 180000})
    assert [r["ord_no"] for r in client.fills()] == [c, b, a]
    assert [r["ord_no"] for r in client.fills(qry_tp="1", stk_cd=SYM)] == [c, a]
    assert [r["ord_no"] for r in client.fills(ord_no=c)] == [b, a]


@pytest.mark.parametrize("qty,price,sym,code,needle", [
    (1, 70050, SYM, 20, "RC4003"),                    # off the 100-won grid
    (1, 90800, SYM, 20, "RC4027"),                    # above +30% of 69,800
    (1, 48800, SYM, 20, "RC4027"),                    # below -30%
    (1, 35102, ETF, 20, "RC4003"),                    # ETFs move in 5 won
    (200, 70000, SYM, 20, "855056:매수증거금이 부족합니다. 142주 매수가능"),
    (1, 70000, "999999", 7, "[1902:"),
])
def test_buy_rejections(kw, client, qty, price, sym, code, needle):
    body = client.buy(qty, price, sym).json()
    assert body["return_code"] == code and needle in body["return_msg"], body
    assert sum(kw.orders_created.values()) == 0 and client.open_orders() == []


def test_price_checks_follow_the_krx_grid():
    assert [krx_tick(p) for p in (1999, 2000, 4995, 19990, 49950, 199900, 499500, 500000)] == [1, 5, 5, 10, 50, 100, 500, 1000]
    assert price_band(69800) == (90700, 48900) and price_band(35100, etf=True) == (45630, 24570)


def test_sell_without_holdings_is_refused(kw, client):
    body = client.sell(1).json()
    assert body["return_code"] == 20 and "800033:매도가능수량이 부족합니다. 0주 매도가능" in body["return_msg"]
    bad_qty = client.sell(0).json()
    assert bad_qty["return_code"] == 2 and "파라미터=ord_qty" in bad_qty["return_msg"]


def test_modify_and_cancel_take_new_order_numbers(kw, client):
    orig = client.buy(10, 69000).json()["ord_no"]
    mod = client.tr("kt10002", "/api/dostk/ordr", {"dmst_stex_tp": "KRX", "orig_ord_no": orig, "stk_cd": SYM,
                                                   "mdfy_qty": "4", "mdfy_uv": "69500", "mdfy_cond_uv": ""}).json()
    assert mod["return_code"] == 0 and mod["base_orig_ord_no"] == orig and mod["ord_no"] > orig
    oso = {r["ord_no"]: r for r in client.open_orders()}
    assert oso[orig]["oso_qty"] == "6" and oso[mod["ord_no"]]["oso_qty"] == "4"
    assert oso[mod["ord_no"]]["orig_ord_no"] == orig and oso[mod["ord_no"]]["io_tp_nm"] == "+매수정정"

    cancel = client.tr("kt10003", "/api/dostk/ordr", {"dmst_stex_tp": "KRX", "orig_ord_no": orig,
                                                      "stk_cd": SYM, "cncl_qty": "0"}).json()
    assert cancel["return_code"] == 0 and cancel["base_orig_ord_no"] == orig and int(cancel["cncl_qty"]) == 6
    assert [r["ord_no"] for r in client.open_orders()] == [mod["ord_no"]]
    again = client.tr("kt10003", "/api/dostk/ordr", {"dmst_stex_tp": "KRX", "orig_ord_no": orig,
                                                     "stk_cd": SYM, "cncl_qty": "0"}).json()
    assert again["return_code"] == 20 and "정정/취소할 수량이 없습니다" in again["return_msg"]
    kw.open_auction(prices={SYM: 69400})
    assert [r["ord_no"] for r in client.fills()] == [mod["ord_no"]]


def test_moving_the_day_expires_open_orders(kw, client):
    client.buy(1, 69000)
    assert int(client.cash()["ord_alow_amt"]) < 10_000_000
    kw.set_today("2026-03-04")
    assert client.open_orders() == [] and client.fills() == []
    assert kw.open_auction(prices={SYM: 68000}) == []                  # nothing left to fill
    assert int(client.cash()["ord_alow_amt"]) == 10_000_000            # and nothing held


def test_auto_fill_fills_market_orders_at_once(kw, client):
    kw.auto_fill = True
    ord_no = client.buy(3).json()["ord_no"]
    assert client.fills()[0]["ord_no"] == ord_no and client.fills()[0]["cntr_pric"] == "69800"


# ---------------------------------------------------------------- rate limits and faults


def test_rate_limit_answers_1700_and_does_not_book(kw, client):
    kw.set_rate_limit("kt10000", 2, per=60)
    assert [client.buy(1).json()["return_code"] for _ in range(3)] == [0, 0, 5]
    last = kw.calls("kt10000")[-1]
    assert last["answer"] == 5 and kw.orders_created[(SYM, "buy")] == 2
    body = client.buy(1).json()
    assert body["return_msg"].endswith("[1700:허용된 요청 개수를 초과하였습니다. API ID=kt10000]")
    assert client.sell(1).json()["return_code"] == 20       # another api-id has its own budget


def test_forced_1700_for_the_next_requests_optionally_as_http_429(kw, client):
    kw.rate_limit_http = 429
    kw.force_rate_limit("ka10075", k=2)
    codes = [client.tr("ka10075", "/api/dostk/acnt", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"})
             for _ in range(3)]
    assert [(r.status_code, r.json()["return_code"]) for r in codes] == [(429, 5), (429, 5), (200, 0)]


def test_drop_after_accept_books_the_order_but_the_client_never_hears(kw, client):
    kw.drop_after_accept("kt10000")
    with pytest.raises(requests.ConnectionError):
        client.buy(7, 70000)
    assert kw.orders_created[(SYM, "buy")] == 1 and len(kw.calls("kt10000")) == 1   # sent once, no retry
    assert [(r["oso_qty"], r["ord_pric"]) for r in client.open_orders()] == [("7", "70000")]
    assert client.buy(1).json()["return_code"] == 0                                   # one drop only


def test_slow_answer_times_the_client_out_after_booking(kw, client):
    kw.delay_after_accept("kt10001", seconds=1.0)
    client.buy(2)
    kw.open_auction(prices={SYM: 70000})
    with pytest.raises(requests.Timeout):
        client.sell(2, timeout=0.3)
    assert kw.orders_created[(SYM, "sell")] == 1 and client.open_orders()[0]["io_tp_nm"] == "-매도"


def test_fail_next_answers_http_500_without_processing(kw, client):
    kw.fail_next("kt10000", http_status=500)
    r = client.buy(1)
    assert r.status_code == 500 and "json" not in r.headers["Content-Type"]
    assert sum(kw.orders_created.values()) == 0 and client.open_orders() == []


def test_hidden_orders_show_up_later(kw, client):
    kw.hide_orders_for(0.3)
    ord_no = client.buy(1, 69000).json()["ord_no"]
    assert client.open_orders() == []
    deadline = datetime.now() + timedelta(seconds=3)
    while not client.open_orders() and datetime.now() < deadline:
        time.sleep(0.05)
    assert [r["ord_no"] for r in client.open_orders()] == [ord_no]


def test_request_log_keeps_api_id_body_and_headers_without_secrets(kw, client):
    client.buy(1, 69000)
    entry = kw.calls("kt10000")[0]
    assert entry["path"] == "/api/dostk/ordr" and entry["body"]["stk_cd"] == SYM
    assert entry["headers"]["content-type"] == "application/json;charset=UTF-8"
    assert client.token not in json.dumps(kw.requests)
