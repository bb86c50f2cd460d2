"""`manage.py load_support_data FILE.json`: whole-file validation, then idempotent upserts."""

from __future__ import annotations

import copy
import datetime as dt
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from pymongo.collection import Collection

from support import mongo
from support.importer import (
    Existing,
    InvalidSupportData,
    parse_support_data,
    read_existing,
    write_support_data,
)
from support.management.commands import load_support_data

EXAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "example_support_data.json"


def meena(**fields: Any) -> dict[str, Any]:
    return {"user_id": 301, "name": "Meena Pillai", "phone": "+919845000301",
            "email": "meena@example.in", "wallet_balance": 0, **fields}


def dosa_order(**fields: Any) -> dict[str, Any]:
    return {
        "order_id": "ORD-3001", "user_id": 301, "restaurant": "Udupi Sagar",
        "items": [{"name": "Set Dosa", "qty": 2, "price": "110.00"},
                  {"name": "Kesari Bath", "qty": 1, "price": 70}],
        "amount": 290, "status": "delivered",
        "placed_at": "2026-11-21T08:00:00Z", "delivered_at": "2026-11-21T08:35:00+00:00",
        **fields,
    }


def refunded_order(**fields: Any) -> dict[str, Any]:
    refund = {"amount": "224.75", "percent": 50, "refund_id": "RFD-3002",
              "at": "2026-11-21T09:00:00Z", "tier": "Silver", "reason": "Food arrived cold"}
    return dosa_order(**{
        "order_id": "ORD-3002", "status": "refunded", "amount": "449.50",
        "items": [{"name": "Mutton Biryani", "qty": 1, "price": 449.5}],
        "refund": refund, **fields,
    })


def write(tmp_path: Path, data: object, name: str = "support.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load(path: Path) -> str:
    out = StringIO()
    call_command("load_support_data", str(path), stdout=out)
    return out.getvalue()


def documents(collection: str) -> list[dict[str, Any]]:
    return list(mongo.sync_db()[collection].find({}, {"_id": 0}).sort("_id", 1))


def problems(data: object, existing: Existing | None = None) -> list[str]:
    with pytest.raises(InvalidSupportData) as invalid:
        parse_support_data(data, existing)
    return invalid.value.errors


# --- Loading ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_good_file_loads_customers_and_orders_in_paise(tmp_path: Path) -> None:
    path = write(tmp_path, {"customers": [meena()], "orders": [dosa_order()]})

    output = load(path)

    assert "customers 1 added" in output and "orders 1 added" in output
    [customer] = documents("customers")
    assert customer["user_id"] == 301 and customer["phone"] == "+919845000301"
    [order] = documents("orders")
    assert order["user_id"] == 301
    assert order["items"] == [{"name": "Set Dosa", "qty": 2, "price": 11_000},
                              {"name": "Kesari Bath", "qty": 1, "price": 7_000}]
    assert order["amount"] == 29_000
    assert order["placed_at"] == dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
    assert order["delivered_at"] == dt.datetime(2026, 11, 21, 8, 35, tzinfo=dt.UTC)
    assert order["refund"] is None


@pytest.mark.django_db
def test_amounts_may_be_strings_or_numbers(tmp_path: Path) -> None:
    orders = [
        dosa_order(order_id="ORD-3101", amount="449.50"),
        dosa_order(order_id="ORD-3102", amount=449.5),
        dosa_order(order_id="ORD-3103", amount=449),
        dosa_order(order_id="ORD-3104", amount="1,299"),
    ]
    customer = meena(wallet_balance="12.5", email="")
    load(write(tmp_path, {"customers": [customer], "orders": orders}))

    amounts = {o["order_id"]: o["amount"] for o in documents("orders")}
    assert amounts == {"ORD-3101": 44_950, "ORD-3102": 44_950, "ORD-3103": 44_900,
                       "ORD-3104": 129_900}
    assert documents("customers")[0]["wallet_balance"] == 1_250


@pytest.mark.django_db
def test_an_order_carrying_its_refund_gets_its_refund_record(tmp_path: Path) -> None:
    load(write(tmp_path, {"customers": [meena()], "orders": [refunded_order()]}))

    [order] = documents("orders")
    assert order["status"] == "refunded"
    assert order["refund"] == {"amount": 22_475, "percent": 50, "refund_id": "RFD-3002",
                               "at": dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)}
    [refund] = documents("refunds")
    assert refund == {
        "order_id": "ORD-3002", "refund_id": "RFD-3002", "user_id": 301, "amount": 22_475,
        "percent": 50, "tier": "Silver", "reason": "Food arrived cold", "call_id": "",
        "created_at": dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC),
    }


@pytest.mark.django_db
def test_reloading_the_same_file_creates_no_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, {"customers": [meena()], "orders": [dosa_order(), refunded_order()]})
    load(path)
    before = {name: documents(name) for name in ("customers", "orders", "refunds")}

    output = load(path)

    assert {name: documents(name) for name in before} == before
    assert "customers 0 added, 0 updated, 1 unchanged" in output
    assert "orders 0 added, 0 updated, 2 unchanged" in output


@pytest.mark.django_db
def test_a_reload_updates_the_records_it_names(tmp_path: Path) -> None:
    load(write(tmp_path, {"customers": [meena()], "orders": [dosa_order()]}))

    output = load(write(tmp_path, {"orders": [dosa_order(amount="300")]}, "fix.json"))

    assert "orders 0 added, 1 updated" in output
    assert [o["amount"] for o in documents("orders")] == [30_000]
    assert len(documents("customers")) == 1


@pytest.mark.django_db
def test_a_reload_never_takes_back_what_the_wallet_was_credited(tmp_path: Path) -> None:
    # The file opens Meena's wallet at ₹50; the agent then refunds ₹224.75 into it. The same
    # export loaded again the next night must not put the wallet back to ₹50.
    load(write(tmp_path, {"customers": [meena(wallet_balance=50)]}))
    customers = mongo.sync_db().customers
    customers.update_one({"user_id": 301}, {"$inc": {"wallet_balance": 22_475}})

    output = load(write(tmp_path, {"customers": [meena(wallet_balance=50, name="Meena P.")]},
                        "again.json"))

    (customer,) = documents("customers")
    assert customer["wallet_balance"] == 5_000 + 22_475
    assert customer["name"] == "Meena P."  # the rest of the record is updated as before
    assert "customers 0 added, 1 updated" in output
    assert ("Kept the wallet balance of 1 customer(s) already here (301), not the file's"
            in output)


@pytest.mark.django_db
def test_a_balance_the_database_already_holds_is_not_reported(tmp_path: Path) -> None:
    path = write(tmp_path, {"customers": [meena(wallet_balance=50)]})
    load(path)

    assert "Kept the wallet balance" not in load(path)


@pytest.mark.django_db
def test_a_file_with_a_bad_record_is_reported_by_index_and_loads_nothing(
    tmp_path: Path,
) -> None:
    orders = [dosa_order(), dosa_order(order_id="ORD-3002", amount="abc"),
              dosa_order(order_id="ORD-3003", status="lost")]
    path = write(tmp_path, {"customers": [meena()], "orders": orders})

    with pytest.raises(CommandError) as error:
        load(path)

    message = str(error.value)
    assert "nothing loaded, 2 problem(s)" in message
    assert "orders[1]: amount: 'abc' is not an amount of rupees" in message
    assert "orders[2]: status: 'lost' is not one of placed, preparing" in message
    assert documents("customers") == [] and documents("orders") == []


@pytest.mark.django_db
def test_a_number_too_big_to_store_is_reported_by_index_and_loads_nothing(
    tmp_path: Path,
) -> None:
    # A corrupt export: the database stores 8-byte integers, and the command used to stop
    # with a traceback after the customers were already written.
    orders = [dosa_order(amount="1e30", items=[{"name": "Set Dosa", "qty": 10**20,
                                                "price": 1}])]  # fmt: skip
    customers = [meena(), meena(user_id=10**20, phone="+919845000302", wallet_balance=10**18)]
    path = write(tmp_path, {"customers": customers, "orders": orders})

    with pytest.raises(CommandError) as error:
        load(path)

    message = str(error.value)
    assert "nothing loaded, 4 problem(s)" in message
    assert f"customers[1]: user_id: {10**20} is out of range" in message
    assert "customers[1]: wallet_balance: 1000000000000000000 is more than ₹" in message
    assert "orders[0]: items[0]: qty: 100000000000000000000 is out of range" in message
    assert "orders[0]: amount: '1e30' is more than ₹" in message
    assert documents("customers") == [] and documents("orders") == []


def refund_of(order: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return order | {"refund": {**order["refund"], **fields}}


@pytest.mark.django_db
def test_a_refund_that_is_not_its_percent_of_the_order_is_refused_and_loads_nothing(
    tmp_path: Path,
) -> None:
    """The wallet was credited the amount; the record, the staff pages and the agent say the
    percent too. ₹100 is not 50% of ₹449.50."""
    orders = [dosa_order(), refund_of(refunded_order(), amount="100.00")]
    path = write(tmp_path, {"customers": [meena()], "orders": orders})

    with pytest.raises(CommandError) as error:
        load(path)

    assert ("orders[1]: refund: amount: ₹100.00 is not 50% of the order's ₹449.50, which is "
            "₹224.75 (a paisa either way is allowed for rounding)") in str(error.value)
    assert documents("customers") == [] and documents("orders") == []


@pytest.mark.django_db
def test_a_refund_rounded_otherwise_by_an_older_system_loads(tmp_path: Path) -> None:
    """50% of ₹449.49 is ₹224.745: we round half up (₹224.75), a system rounding half to even
    or down wrote ₹224.74. Two paise off is no rounding."""
    biryani = refunded_order(amount="449.49",
                             items=[{"name": "Mutton Biryani", "qty": 1, "price": "449.49"}])
    two_paise_off = refund_of(biryani, amount="224.73", refund_id="RFD-3003") | {
        "order_id": "ORD-3003"}  # fmt: skip

    assert problems({"customers": [meena()], "orders": [two_paise_off]}) == [
        "orders[0]: refund: amount: ₹224.73 is not 50% of the order's ₹449.49, which is "
        "₹224.75 (a paisa either way is allowed for rounding)"
    ]
    load(write(tmp_path, {"customers": [meena()], "orders": [refund_of(biryani, amount="224.74")]}))
    assert documents("refunds")[0]["amount"] == 224_74


@pytest.mark.django_db
def test_a_manual_refunds_share_rounded_to_a_whole_percent_loads(tmp_path: Path) -> None:
    """A lead's manual refund (support/goodwill.py) is any amount, recorded with its share of
    the order as a whole percent: ₹100 of ₹449.50 is 22.25%, recorded as 22. A file exported
    from the product carries such refunds and must load again."""
    biryani = refunded_order(amount="449.50",
                             items=[{"name": "Mutton Biryani", "qty": 1, "price": "449.50"}])
    manual = refund_of(biryani, amount="100.00", refund_id="RFD-3004") | {"order_id": "ORD-3004"}
    manual["refund"] = {**manual["refund"], "percent": 22, "tier": "Manual"}
    wrong = manual | {"refund": {**manual["refund"], "percent": 50}}

    assert problems({"customers": [meena()], "orders": [wrong]}) == [
        "orders[0]: refund: percent: 50% is not the share of the order's ₹449.50 that ₹100.00 "
        "is, to a whole percent"
    ]
    load(write(tmp_path, {"customers": [meena()], "orders": [manual]}))
    assert (documents("refunds")[0]["amount"], documents("refunds")[0]["percent"]) == (100_00, 22)


@pytest.mark.django_db
def test_an_order_may_belong_to_a_customer_already_in_the_database(tmp_path: Path) -> None:
    load(write(tmp_path, {"customers": [meena()]}, "customers.json"))

    load(write(tmp_path, {"orders": [dosa_order()]}, "orders.json"))

    assert [o["order_id"] for o in documents("orders")] == ["ORD-3001"]


@pytest.mark.django_db
def test_a_file_may_not_drop_a_refund_the_database_holds(tmp_path: Path) -> None:
    load(write(tmp_path, {"customers": [meena()], "orders": [refunded_order()]}))
    unrefunded = dosa_order(order_id="ORD-3002")

    with pytest.raises(CommandError, match=r"orders\[0\]: refund: ORD-3002 was already "
                                           r"refunded as RFD-3002"):
        load(write(tmp_path, {"orders": [unrefunded]}, "undo.json"))

    assert documents("orders")[0]["status"] == "refunded"


AGENT_REFUNDED_AT = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def agent_refunds_the_dosa_order() -> None:
    """What support/refunds.py writes when the agent refunds ORD-3001 (₹290, Silver: 50%) on a
    call: the order's gate, the refunds record, the wallet credit."""
    db = mongo.sync_db()
    db.orders.update_one({"order_id": "ORD-3001", "refund": None}, {"$set": {
        "status": "refunded", "refund": {"amount": 14_500, "percent": 50,
                                         "refund_id": "RFD-AGENT1", "at": AGENT_REFUNDED_AT},
    }})  # fmt: skip
    db.refunds.insert_one({
        "refund_id": "RFD-AGENT1", "order_id": "ORD-3001", "user_id": 301, "amount": 14_500,
        "percent": 50, "tier": "Silver", "reason": "The dosa arrived cold and soggy",
        "call_id": "CALL-agent", "created_at": AGENT_REFUNDED_AT,
    })  # fmt: skip
    db.customers.update_one({"user_id": 301}, {"$inc": {"wallet_balance": 14_500}})


def exported_dosa_order(**refund: Any) -> dict[str, Any]:
    """ORD-3001 as the host system exports it after the agent's refund: without our tier or
    reason (optional in the file)."""
    return dosa_order(status="refunded", refund={
        "amount": 145, "percent": 50, "refund_id": "RFD-AGENT1",
        "at": AGENT_REFUNDED_AT.isoformat(), **refund,
    })  # fmt: skip


@pytest.mark.django_db
def test_reloading_an_export_keeps_the_reason_and_tier_the_agent_recorded(tmp_path: Path) -> None:
    load(write(tmp_path, {"customers": [meena()], "orders": [dosa_order()]}))
    agent_refunds_the_dosa_order()

    load(write(tmp_path, {"orders": [exported_dosa_order()]}, "export.json"))

    [refund] = documents("refunds")
    assert refund["reason"] == "The dosa arrived cold and soggy"
    assert (refund["tier"], refund["call_id"], refund["amount"]) == ("Silver", "CALL-agent", 14_500)
    [order] = documents("orders")
    assert order["refund"]["refund_id"] == "RFD-AGENT1" and order["status"] == "refunded"


@pytest.mark.django_db
def test_a_file_may_not_change_what_a_refund_on_record_paid(tmp_path: Path) -> None:
    load(write(tmp_path, {"customers": [meena()], "orders": [dosa_order()]}))
    agent_refunds_the_dosa_order()
    changed = exported_dosa_order(amount=290, percent=100)

    with pytest.raises(CommandError) as error:
        load(write(tmp_path, {"orders": [dosa_order(order_id="ORD-3009"), changed]}, "x.json"))

    assert ("orders[1]: refund: RFD-AGENT1 is on record as ₹145.00 (50%); the file gives "
            "₹290.00 (100%), and a refund made is never changed") in str(error.value)
    assert "nothing loaded, 1 problem(s)" in str(error.value)
    [order] = documents("orders")  # ORD-3009 was not loaded either
    [refund] = documents("refunds")
    assert (order["refund"]["amount"], refund["amount"], refund["percent"]) == (14_500, 14_500, 50)


@pytest.mark.django_db
def test_an_order_refunded_while_the_file_loads_keeps_its_refund(tmp_path: Path) -> None:
    """A live call refunds an order between the file's check and its write (the nightly
    import running during support hours): the file, older, would undo the refund."""
    load(write(tmp_path, {"customers": [meena()], "orders": [dosa_order()]}))
    raw = {"orders": [dosa_order(restaurant="Udupi Sagar (Indiranagar)"),
                      dosa_order(order_id="ORD-3009")]}  # fmt: skip
    db = mongo.sync_db()
    data = parse_support_data(raw, read_existing(db, raw), now=timezone.now())

    agent_refunds_the_dosa_order()
    result = write_support_data(db, data)

    assert result.changed_meanwhile == {"ORD-3001": "RFD-AGENT1"}
    assert str(result.orders) == "1 added, 0 updated, 0 unchanged"
    refunded, new = documents("orders")
    assert (refunded["status"], refunded["refund"]["refund_id"]) == ("refunded", "RFD-AGENT1")
    assert refunded["restaurant"] == "Udupi Sagar"  # left as it was
    assert new["order_id"] == "ORD-3009"  # the rest of the file is written


@pytest.mark.django_db
def test_the_command_names_an_order_refunded_while_the_file_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(write(tmp_path, {"customers": [meena()], "orders": [dosa_order()]}))
    check = load_support_data.parse_support_data

    def refunded_once_checked(*args: Any, **kwargs: Any) -> Any:
        checked = check(*args, **kwargs)
        agent_refunds_the_dosa_order()
        return checked

    monkeypatch.setattr(load_support_data, "parse_support_data", refunded_once_checked)
    errors = StringIO()

    call_command("load_support_data", str(write(tmp_path, {"orders": [dosa_order()]}, "n.json")),
                 stdout=StringIO(), stderr=errors)  # fmt: skip

    assert ("Left 1 order(s) as they were, changed while the file loaded: ORD-3001 (refunded "
            "as RFD-AGENT1)") in errors.getvalue()
    assert documents("orders")[0]["status"] == "refunded"


@pytest.mark.django_db
def test_an_order_is_not_moved_to_another_customer(tmp_path: Path) -> None:
    # Its refund, and the wallet credit that paid it, belong to the customer who had it.
    load(write(tmp_path, {"customers": [meena(), meena(user_id=302, phone="+919845000302")],
                          "orders": [refunded_order()]}))  # fmt: skip

    with pytest.raises(CommandError, match=r"orders\[0\]: user_id: ORD-3002 belongs to "
                                           r"customer 301 in the database"):
        load(write(tmp_path, {"orders": [refunded_order(user_id=302)]}, "moved.json"))

    assert {o["user_id"] for o in documents("orders")} == {301}
    assert {r["user_id"] for r in documents("refunds")} == {301}


@pytest.mark.django_db
def test_a_phone_number_of_another_customer_in_the_database_is_refused(tmp_path: Path) -> None:
    load(write(tmp_path, {"customers": [meena()]}))

    with pytest.raises(CommandError, match=r"customers\[0\]: phone: \+919845000301 belongs "
                                           r"to customer 301"):
        load(write(tmp_path, {"customers": [meena(user_id=302)]}, "clash.json"))


@pytest.mark.django_db
def test_the_example_file_loads(tmp_path: Path) -> None:
    output = load(EXAMPLE)

    assert "customers 2 added" in output and "orders 4 added" in output
    assert "refunds 1 added" in output
    lakshmi = documents("customers")[0]
    assert lakshmi["phone"] == "+919845000501"
    assert lakshmi["wallet_balance"] == 15_000
    assert lakshmi["created_at"] == dt.datetime(2026, 1, 15, 4, 0, tzinfo=dt.UTC)  # 09:30 IST


def test_an_unreadable_file_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"customers": [', encoding="utf-8")
    with pytest.raises(CommandError, match="is not valid JSON"):
        load(broken)


# --- Validation (pure) --------------------------------------------------------------------


def test_every_bad_record_is_named_by_its_index() -> None:
    data = {
        "customers": [meena(), meena(user_id="7", phone="98450 00302"), meena(name="")],
        "orders": [
            dosa_order(),
            dosa_order(order_id="ORD-3002", delivered_at=None),
            dosa_order(order_id="ORD-3001"),
            dosa_order(order_id="ORD-3004", user_id=999),
            dosa_order(order_id="ORD-3005", items=[{"name": "Set Dosa", "qty": 0}]),
        ],
    }

    assert problems(data) == [
        "customers[1]: user_id: '7' is not a whole number",
        "customers[1]: phone: '98450 00302' is not an international number like +919812345678",
        "customers[2]: name: '' is not a non-empty string",
        "orders[1]: delivered_at: required for a delivered order",
        "orders[4]: items[0]: qty: 0 is out of range (from 1)",
        "orders[4]: items[0]: price: required",
        "orders[2]: order_id: ORD-3001 repeats orders[0]",
        "orders[3]: user_id: no customer 999 in the file or the database",
    ]


def test_a_repeated_customer_id_or_phone_names_its_first_record() -> None:
    data = {
        "customers": [
            meena(),
            meena(user_id=302, phone="+919845000302"),
            meena(user_id=303),
            meena(phone="+919845000304"),
        ],
        "orders": [],
    }

    assert problems(data) == [
        "customers[2]: phone: +919845000301 repeats customers[0]",
        "customers[3]: user_id: 301 repeats customers[0]",
    ]


def test_status_delivery_time_and_refund_must_agree() -> None:
    data = {
        "customers": [meena()],
        "orders": [
            dosa_order(status="preparing"),
            refunded_order(refund=None),
            dosa_order(order_id="ORD-3003", refund={**refunded_order()["refund"], "amount": 145}),
            dosa_order(order_id="ORD-3004", delivered_at="2026-11-21T07:00:00Z"),
            refunded_order(order_id="ORD-3005", delivered_at="2026-11-21T09:30:00Z"),
        ],
    }

    assert problems(data) == [
        "orders[0]: delivered_at: must be null for a preparing order",
        "orders[1]: refund: required for a refunded order",
        "orders[2]: refund: a delivered order has no refund (a refunded order's status is "
        "'refunded')",
        "orders[3]: delivered_at: is before placed_at",
        "orders[4]: refund: its time (at) is before delivered_at",
    ]


def test_amounts_with_more_than_paise_and_unknown_fields_are_refused() -> None:
    order = dosa_order(amount="10.005", delivered_on="2026-11-21")
    bad_refund = copy.deepcopy(refunded_order())
    bad_refund["refund"]["amount"] = "500"
    absurd = dosa_order(order_id="ORD-3002", amount="1e999999")

    assert problems(
        {"customers": [meena()], "orders": [order, bad_refund, absurd], "extra": []}
    ) == [
        "extra: unknown key (expected customers and orders)",
        "orders[0]: delivered_on: unknown field",
        "orders[0]: amount: '10.005' has more than paise precision",
        "orders[1]: refund: amount: is more than the order's amount",
        "orders[2]: amount: '1e999999' is more than ₹10,00,00,00,000.00",
    ]


def test_a_file_that_is_not_an_object_of_lists_is_refused() -> None:
    assert problems([]) == ['the file must hold an object {"customers": [...], '
                            '"orders": [...]}']
    assert problems({"customers": {}, "orders": ["ORD-1"]}) == [
        "customers: must be a list",
        "orders[0]: is not an object",
    ]


def test_times_without_an_offset_are_utc() -> None:
    data = parse_support_data({"customers": [meena(created_at="2026-11-01T10:00:00")]})

    assert data.customers[0].created_at == dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)


# --- order ids as the business has them (support/order_ids.py) -------------------------------

LOADED_IDS = ["ORD-7-B", "5012345678", "SW/2026/000123", "x" * 32]


@pytest.mark.django_db(transaction=True)
def test_any_printable_order_id_loads_and_the_agent_finds_it(tmp_path: Path) -> None:
    from asgiref.sync import async_to_sync

    from support.tools import ToolContext, run_tool

    orders = [dosa_order(order_id=order_id) for order_id in LOADED_IDS]
    load(write(tmp_path, {"customers": [meena()], "orders": orders}))

    ctx = ToolContext(user_id=301, call_id="import-check")
    for order_id in LOADED_IDS:
        found = async_to_sync(run_tool)("get_order_details", {"order_id": order_id}, ctx)
        assert found["ok"] and found["order_id"] == order_id


@pytest.mark.parametrize("order_id", ["A\nB", "x" * 33, "", "\u0000ORD"])
def test_what_is_no_order_id_is_refused_by_index(order_id: str) -> None:
    data = {"customers": [meena()], "orders": [dosa_order(order_id=order_id)]}

    with pytest.raises(InvalidSupportData) as refused:
        parse_support_data(data, Existing())

    assert any(e.startswith("orders[0]: order_id") for e in refused.value.errors)


@pytest.mark.django_db
def test_a_large_file_reads_the_database_a_batch_of_keys_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A million keys in one $in would pass MongoDB's 16 MB query limit: batches of two here.
    monkeypatch.setattr(mongo, "IN_BATCH", 2)
    asked: list[int] = []  # the length of each $in a query of the load sent
    find = Collection.find

    def counted_find(self: Collection[Any], query: Any = None, *args: Any, **kwargs: Any) -> Any:
        for condition in (query or {}).values():
            if isinstance(condition, dict) and "$in" in condition:
                asked.append(len(condition["$in"]))
        return find(self, query, *args, **kwargs)

    monkeypatch.setattr(Collection, "find", counted_find)
    customers = [meena(user_id=301 + n, phone=f"+91984500{301 + n:04d}") for n in range(5)]
    orders = [dosa_order(order_id=f"ORD-40{n:02d}", user_id=301 + n) for n in range(5)]
    path = write(tmp_path, {"customers": customers, "orders": [*orders, refunded_order()]})
    load(path)

    again = load(path)
    moved = [*orders[:4], dosa_order(order_id="ORD-4004", user_id=301)]
    clash = [*customers[:4], meena(user_id=399, phone=customers[4]["phone"])]

    assert asked and max(asked) <= 2  # never more keys in one query than a batch
    assert "customers 0 added, 0 updated, 5 unchanged" in again
    assert "orders 0 added, 0 updated, 6 unchanged" in again
    with pytest.raises(CommandError, match=r"orders\[4\]: user_id: ORD-4004 belongs to "
                                           r"customer 305 in the database"):
        load(write(tmp_path, {"orders": moved}, "moved.json"))
    with pytest.raises(CommandError, match=r"customers\[4\]: phone: \+919845000305 belongs"):
        load(write(tmp_path, {"customers": clash}, "clash.json"))


# --- times the file cannot mean ------------------------------------------------------------


@pytest.mark.parametrize("time", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:30"])
def test_a_time_that_is_no_utc_time_is_reported_by_index(time: str) -> None:
    # Valid ISO-8601, but past the last (or before the first) time there is, once in UTC.
    assert problems({"customers": [meena(created_at=time)]}) == [
        f"customers[0]: created_at: {time!r} is not an ISO-8601 time"
    ]


LOAD_TIME = dt.datetime(2026, 12, 5, 6, 0, tzinfo=dt.UTC)


def test_a_time_after_the_load_is_refused_with_what_it_was_read_as() -> None:
    # An export in local time without an offset: 10:30 in Bengaluru read as 10:30 UTC, hours
    # ahead, would keep the 2-hour refund window open until long after the delivery.
    data = {
        "customers": [meena(created_at="2026-12-05T10:30:00")],
        "orders": [dosa_order(placed_at="2026-12-05T10:00:00", delivered_at="2026-12-05T10:30:00")],
    }

    with pytest.raises(InvalidSupportData) as invalid:
        parse_support_data(data, now=LOAD_TIME)

    read_as = ("is after the time of loading (2026-12-05 06:00:00 UTC); a time without an "
               "offset is read as UTC")
    assert invalid.value.errors == [
        f"customers[0]: created_at: 2026-12-05 10:30:00 UTC {read_as}",
        f"orders[0]: placed_at: 2026-12-05 10:00:00 UTC {read_as}",
        f"orders[0]: delivered_at: 2026-12-05 10:30:00 UTC {read_as}",
    ]
    assert parse_support_data(data, now=LOAD_TIME + dt.timedelta(hours=5)).orders


def test_a_time_a_few_seconds_ahead_is_a_clock_not_a_mistake() -> None:
    # The exporting system's clock a little ahead of ours: what it just delivered still loads.
    just_now = (LOAD_TIME + dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    data = {"customers": [meena()], "orders": [dosa_order(delivered_at=just_now)]}

    assert parse_support_data(data, now=LOAD_TIME).orders


@pytest.mark.django_db
def test_the_command_refuses_a_delivery_in_the_future_and_loads_nothing(tmp_path: Path) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S")
    path = write(tmp_path, {"customers": [meena()], "orders": [dosa_order(delivered_at=later)]})

    with pytest.raises(CommandError, match=r"orders\[0\]: delivered_at: .* is after the time "
                                           "of loading"):  # fmt: skip
        load(path)
    assert documents("customers") == [] and documents("orders") == []


def test_json_nested_too_deep_to_read_is_a_command_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")

    with pytest.raises(CommandError, match="is not valid JSON: nested too deeply"):
        load(path)


def test_the_database_out_of_reach_is_said_in_one_line(
    tmp_path: Path, database_down: None
) -> None:
    path = write(tmp_path, {"customers": [meena()]})

    with pytest.raises(CommandError) as refused:
        load(path)

    assert str(refused.value).startswith("The database could not be reached (127.0.0.1:")
    assert "Topology Description" not in str(refused.value)


@pytest.mark.django_db
def test_text_with_a_lone_surrogate_is_reported_by_index_and_loads_nothing(
    tmp_path: Path,
) -> None:
    # "\ud800" is valid JSON but no character: an exporter that cut a UTF-16 pair in two. The
    # database cannot store it (nor be asked about it).
    refund = {"amount": 1, "percent": 50, "refund_id": "RFD-\udfff", "at": "2026-11-21T09:00:00Z"}
    data = {
        "customers": [meena(name="Meena \ud800", phone="+9198450\ud80000301")],
        "orders": [dosa_order(order_id="ORD-\ud800"),
                   dosa_order(order_id="ORD-3002", restaurant="Udupi \ud800", status="refunded",
                              refund=refund)],
    }  # fmt: skip
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")  # json.dumps escapes them as \ud800

    with pytest.raises(CommandError) as refused:
        load(path)

    message = str(refused.value)
    assert ("customers[0]: name: 'Meena \\ud800' holds a lone surrogate (\\ud800), not "
            "text") in message
    assert "orders[0]: order_id: " in message
    assert "orders[1]: restaurant: 'Udupi \\ud800' holds a lone surrogate (\\ud800)" in message
    assert "orders[1]: refund: refund_id: 'RFD-\\udfff' holds a lone surrogate (\\udfff)" in message
    assert documents("customers") == [] and documents("orders") == []
