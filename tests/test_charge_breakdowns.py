"""Charges by line end to end: what a broker's file or the client itemises wins and is shown line by
line on the trades (``charges_breakdown``, ``charges_source``); a flip shares a fill's lines pro
rata to the paisa; accounts outside India are estimated with their commission schedule, and a new
schedule recomputes their trades; the stored projection keeps the breakdowns and still equals a
rebuild."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.harness import ServiceProcess, auth, eventually, signup
from tests.test_imports import imported, new_trader
from tests.test_staged_imports import Bus, batch, bus, row
from tj_common.contracts import trades as contract
from tj_trades import projection

__all__ = ["bus"]  # the fixture, imported for these tests

ICICI_HEADER = (
    "Date,Stock,Action,Qty,Price,Trade Value,Order Ref.,Settlement,Segment,DP Id - Client DP Id,Exchange,STT,"
    "Transaction and SEBI Turnover charges,Stamp Duty,Brokerage incl. taxes"
)


def dec(lines: dict[str, str]) -> dict[str, Decimal]:
    return {name: Decimal(amount) for name, amount in lines.items()}


def added(*breakdowns: dict[str, str]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for lines in breakdowns:
        for name, amount in lines.items():
            total[name] = total.get(name, Decimal(0)) + Decimal(amount)
    return total


def fill(side: str, qty: str, price: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": "TCS", "side": side, "quantity": qty, "price": price, "executed_at": at, **extra}


async def trades_of(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/trades", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page = contract.TradePage.model_validate(response.json())  # the documented shape
    assert all(sum(t.charges_breakdown.values(), Decimal(0)) == t.charges for t in page.items)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def trade(client: httpx.AsyncClient, headers: dict[str, str], trade_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/trades/{trade_id}", headers=headers)
    assert response.status_code == 200, response.text
    contract.TradeDetailOut.model_validate(response.json())
    body: dict[str, Any] = response.json()
    return body


async def stored_projection(
    db: async_sessionmaker[AsyncSession], user_id: uuid.UUID
) -> dict[str, tuple[str, dict[str, Decimal]]]:
    """trade id -> (charges source, breakdown) as the projection stores them, once refreshed."""
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
        rows = await session.execute(
            text(
                "SELECT trade_id, charges_source, charges_breakdown::jsonb AS charges_breakdown"
                " FROM trades.trade_rows WHERE user_id = :u"
            ),
            {"u": user_id},
        )
        return {str(r.trade_id): (r.charges_source, dec(r.charges_breakdown)) for r in rows}


async def live_and_rebuilt(db: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> tuple[Any, Any]:
    """The checksum of the live projection (refreshed), and of the projection rebuilt from the
    executions (committed)."""
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
        live = await projection.checksum(session, user_id)
        await projection.rebuild(session, user_id)
        return live, await projection.checksum(session, user_id)


async def test_imported_charges_are_the_trades_breakdown(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    """An ICICI Direct trade book itemises each row's charges: the trade shows them line by line."""
    headers, account_id = await new_trader(client)
    content = "\n".join(
        [
            ICICI_HEADER,
            "05-Jun-2026,RELIND,Buy,10,2380.00,23800.00,20260605N900000001,2026106,Rolling,IN300000-1,NSE,"
            "23.80,0.84,3.57,20.00",
            "05-Jun-2026,RELIND,Sell,10,2391.50,23915.00,20260605N900000002,2026106,Rolling,IN300000-1,NSE,"
            "23.92,0.85,0,20.00",
        ]
    ).encode()
    done = await imported(client, headers, account_id, content, name="icici.csv")
    assert done["status"] == "completed", done
    assert done["format"] == "icici_tradebook_csv"

    executions = (await client.get("/api/v1/executions", params={"account_id": account_id}, headers=headers)).json()
    by_side = {e["side"]: e for e in executions["items"]}
    assert dec(by_side["buy"]["charges"]) == dec(
        {"brokerage": "20.00", "stt": "23.80", "exchange_txn": "0.84", "stamp_duty": "3.57"}
    )
    assert Decimal(by_side["buy"]["fees"]) == Decimal("48.21")  # the file's lines add up to the fees

    (only,) = await trades_of(client, headers, account_id=account_id)
    assert only["status"] == "closed" and only["charges_source"] == "broker"
    assert dec(only["charges_breakdown"]) == added(by_side["buy"]["charges"], by_side["sell"]["charges"])
    assert dec(only["charges_breakdown"]) == {
        "brokerage": Decimal("40.00"),
        "stt": Decimal("47.72"),
        "exchange_txn": Decimal("1.69"),
        "stamp_duty": Decimal("3.57"),
    }
    assert Decimal(only["charges"]) == Decimal("92.98")
    assert Decimal(only["net_pnl"]) == Decimal("115.00") - Decimal("92.98")
    detail = await trade(client, headers, only["id"])
    assert {leg["charges_source"] for leg in detail["executions"]} == {"broker"}


async def test_staged_rows_carry_their_charges_and_bad_ones_are_refused(client: httpx.AsyncClient, bus: Bus) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    user_id = uuid.UUID(user["user"]["id"])
    created = await client.post("/api/v1/accounts", json={"name": "Angel One"}, headers=headers)
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    import_id = uuid.uuid4()
    staged = await bus.send(
        user_id,
        contract.STAGE_IMPORT_BATCH,
        batch(
            import_id,
            account_id,
            0,
            row(1, "t:C1", broker_trade_id="C1", charges={"brokerage": "20", "gst": "3.60"}, fees="25.10"),
            row(2, "t:C2", broker_trade_id="C2", side="sell", price="110", charges={"brokerage": "20", "stt": "1"}),
            row(3, "t:C3", broker_trade_id="C3", charges={"rebate": "1"}),  # not a charge line
            row(4, "t:C4", broker_trade_id="C4", charges={"stt": "-1"}),  # negative
            row(5, "t:C5", broker_trade_id="C5", charges={"stt": "5"}, fees="4"),  # a total below its lines
        ),
    )
    assert staged.type == contract.IMPORT_BATCH_STAGED, staged.payload
    result = contract.ImportBatchStaged.model_validate(staged.payload)
    assert result.staged == 2
    assert sorted(r.line for r in result.rejected) == [3, 4, 5]
    assert "charges" in next(r.reason for r in result.rejected if r.line == 3)
    committed = await bus.send(
        user_id, contract.COMMIT_IMPORT, {"import_id": str(import_id), "account_id": account_id, "batches": 1}
    )
    assert committed.type == contract.IMPORT_COMMITTED, committed.payload

    (only,) = await trades_of(client, headers)
    assert only["charges_source"] == "broker"
    # The first row's total holds 1.50 beyond its lines: unitemised.
    assert dec(only["charges_breakdown"]) == {
        "brokerage": Decimal("40"),
        "stt": Decimal("1"),
        "gst": Decimal("3.60"),
        "unitemised": Decimal("1.50"),
    }
    assert Decimal(only["charges"]) == Decimal("46.10")


async def test_typed_charges_through_the_api(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], db: async_sessionmaker[AsyncSession]
) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    user_id = uuid.UUID(user["user"]["id"])
    day = "2026-06-05T{}+05:30"

    # Refused, with DESIGN §11's body: an unknown line, a negative amount, a total below its lines.
    for charges, fees, words in (
        ({"rebate": "1"}, None, "charges"),
        ({"stt": "-0.01"}, None, "greater than or equal to 0"),
        ({"brokerage": "20", "stt": "5"}, "24.99", "less than the sum of the itemised charges"),
    ):
        extra: dict[str, Any] = {"charges": charges} if fees is None else {"charges": charges, "fees": fees}
        body = {"executions": [fill("buy", "1", "4000", day.format("09:20:00"), **extra)]}
        refused = await client.post("/api/v1/executions", json=body, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "ValidationError" and words in str(refused.json()["detail"])
        assert set(refused.json()) >= {"error", "detail", "request_id"}
    assert (await client.get("/api/v1/executions", headers=headers)).json()["items"] == []

    # A manual execution with typed charges; its exit with the broker's total only; another trade
    # whose exit is estimated (a mixed trade).
    itemised = {"brokerage": "20", "stt": "4", "exchange_txn": "0.12", "sebi": "0.01", "gst": "3.62"}
    response = await client.post(
        "/api/v1/executions",
        json={
            "executions": [
                fill("buy", "1", "4000", day.format("09:20:00"), charges=itemised, product="MIS"),
                fill("sell", "1", "4010", day.format("10:20:00"), fees="27.80", product="MIS"),
                {**fill("buy", "2", "1500", day.format("09:30:00"), charges={"brokerage": "20"}), "symbol": "INFY"},
                {**fill("sell", "2", "1510", day.format("11:30:00"), product="MIS"), "symbol": "INFY"},
            ]
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    recorded = {(e["symbol"], e["side"]): e for e in response.json()["executions"]}
    assert dec(recorded[("TCS", "buy")]["charges"]) == dec(itemised)
    assert Decimal(recorded[("TCS", "buy")]["fees"]) == Decimal("27.75")  # the lines' total
    assert recorded[("TCS", "sell")]["charges"] is None

    trades = {t["symbol"]: t for t in await trades_of(client, headers)}
    tcs, infy = trades["TCS"], trades["INFY"]
    assert tcs["charges_source"] == "broker"
    assert dec(tcs["charges_breakdown"]) == {**dec(itemised), "unitemised": Decimal("27.80")}
    assert Decimal(tcs["charges"]) == Decimal("55.55")
    assert infy["charges_source"] == "mixed"
    estimated = next(leg for leg in (await trade(client, headers, infy["id"]))["executions"] if leg["side"] == "sell")
    assert estimated["charges_source"] == "estimated"
    assert {"stt", "exchange_txn", "sebi", "gst"} <= set(estimated["charges_breakdown"])
    assert dec(infy["charges_breakdown"]) == added({"brokerage": "20"}, estimated["charges_breakdown"])

    # A manual round trip with itemised charges: all on the entry, the exit carries none.
    manual = await client.post(
        "/api/v1/trades",
        json={
            "symbol": "HDFCBANK",
            "side": "long",
            "quantity": "5",
            "entry_price": "1600",
            "entered_at": day.format("09:40:00"),
            "exit_price": "1610",
            "exited_at": day.format("10:40:00"),
            "charges": {"brokerage": "40", "stt": "2"},
        },
        headers=headers,
    )
    assert manual.status_code == 201, manual.text
    assert manual.json()["charges_source"] == "broker"
    assert dec(manual.json()["charges_breakdown"]) == {"brokerage": Decimal("40"), "stt": Decimal("2")}
    assert Decimal(manual.json()["net_pnl"]) == Decimal("50") - Decimal("42")

    # The projection stores the same breakdowns, as a rebuild from the executions does.
    stored = await stored_projection(db, user_id)
    for item in await trades_of(client, headers):
        assert stored[item["id"]] == (item["charges_source"], dec(item["charges_breakdown"]))
    live, rebuilt = await live_and_rebuilt(db, user_id)
    assert live == rebuilt and rebuilt["trades"] == 3


async def test_a_flip_shares_the_fills_lines_pro_rata(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], db: async_sessionmaker[AsyncSession]
) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    user_id = uuid.UUID(user["user"]["id"])
    day = "2026-06-05T{}+05:30"
    opening = {"brokerage": "20", "stt": "3.01", "unitemised": "0.99"}
    flipping = {"brokerage": "20.03", "exchange_txn": "0.89", "gst": "0.01"}
    response = await client.post(
        "/api/v1/executions",
        json={
            "executions": [
                fill("sell", "4", "4000", day.format("09:20:00"), charges=opening),
                fill("buy", "6", "3990", day.format("09:40:00"), charges=flipping),  # closes 4, opens 2
            ]
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    trades = {t["side"]: t for t in await trades_of(client, headers)}
    short, long = trades["short"], trades["long"]
    assert (short["status"], long["status"]) == ("closed", "open")
    # 4/6 and 2/6 of each line of the flip, to the paisa, the parts adding up to the line.
    assert dec(long["charges_breakdown"]) == {
        "brokerage": Decimal("6.68"),
        "exchange_txn": Decimal("0.30"),
        "gst": Decimal("0.00"),
    }
    assert dec(short["charges_breakdown"]) == {
        "brokerage": Decimal("33.35"),
        "stt": Decimal("3.01"),
        "exchange_txn": Decimal("0.59"),
        "gst": Decimal("0.01"),
        "unitemised": Decimal("0.99"),
    }
    assert added(short["charges_breakdown"], long["charges_breakdown"]) == added(opening, flipping)
    assert Decimal(short["charges"]) == Decimal("37.95") and Decimal(long["charges"]) == Decimal("6.98")
    assert Decimal(short["net_pnl"]) == Decimal("40") - Decimal("37.95")

    legs = {(leg["role"], leg["side"]): leg for leg in (await trade(client, headers, short["id"]))["executions"]}
    assert dec(legs[("close", "buy")]["charges_breakdown"]) == {
        "brokerage": Decimal("13.35"),
        "exchange_txn": Decimal("0.59"),
        "gst": Decimal("0.01"),
    }
    assert Decimal(legs[("close", "buy")]["charges"]) == Decimal("13.95")
    stored = await stored_projection(db, user_id)
    assert stored[short["id"]] == ("broker", dec(short["charges_breakdown"]))
    assert stored[long["id"]] == ("broker", dec(long["charges_breakdown"]))

    # A rebuild from the executions equals the live projection, and the checksum covers the lines.
    live, rebuilt = await live_and_rebuilt(db, user_id)
    assert live == rebuilt and rebuilt["trades"] == 2
    async with db() as session, session.begin():
        await session.execute(
            text(
                "UPDATE trades.trade_rows SET charges_breakdown = (charges_breakdown::jsonb - 'gst')::text "
                "WHERE user_id = :u AND status = 'closed'"
            ),
            {"u": user_id},
        )
        assert (await projection.checksum(session, user_id))["checksum"] != rebuilt["checksum"]
        await session.rollback()


async def test_commission_schedule_prices_a_us_account(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], db: async_sessionmaker[AsyncSession]
) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    user_id = uuid.UUID(user["user"]["id"])
    schedule = {"per_share": "0.005", "min_per_order": "1", "max_pct_of_value": "1"}

    # A schedule the contract or the domain refuses is a 422 with DESIGN §11's body, nothing created.
    for bad in ({"per_share": "-0.01"}, {"per_lot": "1"}, {"min_per_order": "5", "max_per_order": "1"}):
        refused = await client.post(
            "/api/v1/accounts",
            json={"name": "Bad", "base_currency": "USD", "commission_schedule": bad},
            headers=headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "ValidationError" and "commission_schedule" in str(refused.json()["detail"])
    created = await client.post(
        "/api/v1/accounts",
        json={
            "name": "IBKR",
            "broker": "ibkr",
            "base_currency": "USD",
            "timezone": "America/New_York",
            "commission_schedule": schedule,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert dec({k: v for k, v in account["commission_schedule"].items() if v is not None}) == {
        **dec(schedule),
        "per_contract": Decimal(0),
        "per_order": Decimal(0),
        "pct_of_value": Decimal(0),
        "quantum": Decimal("0.01"),
    }
    listed = (await client.get("/api/v1/accounts", headers=headers)).json()["items"]
    assert next(a for a in listed if a["id"] == account["id"])["commission_schedule"] == account["commission_schedule"]

    def us(side: str, qty: str, price: str, at: str, order: str | None = None) -> dict[str, Any]:
        body = {
            "symbol": "AAPL",
            "exchange": "NASDAQ",
            "side": side,
            "quantity": qty,
            "price": price,
            "executed_at": at,
        }
        return body if order is None else {**body, "broker_order_id": order}

    response = await client.post(
        "/api/v1/executions",
        json={
            "account_id": account["id"],
            "executions": [
                # One order filled twice: one commission of 400 x 0.005 = 2.00, shared by value.
                us("buy", "300", "190.50", "2026-06-05T10:00:00-04:00", order="A1"),
                us("buy", "100", "190.60", "2026-06-05T10:00:01-04:00", order="A1"),
                us("sell", "400", "191.00", "2026-06-05T15:00:00-04:00", order="A2"),
                # 50 shares: 0.25 raised to the 1.00 minimum per order; no sell yet (open).
                us("buy", "50", "10.00", "2026-06-05T15:30:00-04:00"),
            ],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert all(e["currency"] == "USD" and e["fees"] is None for e in response.json()["executions"])

    async def priced() -> dict[str, dict[str, Any]]:
        items = await trades_of(client, headers, account_id=account["id"])
        return {t["status"]: t for t in items}

    trades = await priced()
    closed, still_open = trades["closed"], trades["open"]
    assert closed["charges_source"] == "estimated"
    assert dec(closed["charges_breakdown"]) == {"commission": Decimal("4.00"), "regulatory_fees": Decimal("0.00")}
    assert Decimal(closed["net_pnl"]) == Decimal("190") - Decimal("4.00")  # 300 x 0.50 + 100 x 0.40 - 4
    assert dec(still_open["charges_breakdown"]) == {"commission": Decimal("1.00"), "regulatory_fees": Decimal("0.00")}
    legs = (await trade(client, headers, closed["id"]))["executions"]
    assert sorted(Decimal(leg["charges"]) for leg in legs if leg["side"] == "buy") == [Decimal("0.50"), Decimal("1.50")]
    stored = await stored_projection(db, user_id)
    assert stored[closed["id"]] == ("estimated", dec(closed["charges_breakdown"]))

    # A new schedule reprices every trade of the account, the stored projection too.
    changed = await client.patch(
        f"/api/v1/accounts/{account['id']}",
        json={"commission_schedule": {"per_order": "2.50"}},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert Decimal(changed.json()["commission_schedule"]["per_order"]) == Decimal("2.50")
    trades = await priced()
    assert dec(trades["closed"]["charges_breakdown"])["commission"] == Decimal("5.00")
    assert dec(trades["open"]["charges_breakdown"])["commission"] == Decimal("2.50")

    async def repriced() -> bool | None:
        found = await stored_projection(db, user_id)
        return found[closed["id"]][1].get("commission") == Decimal("5.00") or None

    assert await eventually(repriced)
    zero_quantum = await client.patch(
        f"/api/v1/accounts/{account['id']}", json={"commission_schedule": {"quantum": "0"}}, headers=headers
    )
    assert zero_quantum.status_code == 422 and zero_quantum.json()["error"] == "ValidationError", zero_quantum.text

    # Without a schedule an account outside India has no charges to estimate.
    cleared = await client.patch(
        f"/api/v1/accounts/{account['id']}", json={"commission_schedule": None}, headers=headers
    )
    assert cleared.status_code == 200 and cleared.json()["commission_schedule"] is None, cleared.text
    trades = await priced()
    assert trades["closed"]["charges_source"] == "none" and trades["closed"]["charges_breakdown"] == {}
    assert Decimal(trades["closed"]["charges"]) == 0

    # The live projection equals a rebuild from the executions, breakdowns included.
    live, rebuilt = await live_and_rebuilt(db, user_id)
    assert live == rebuilt and rebuilt["trades"] == 2
