"""Reading a support data file (contract section 5): pure, no database.

`parse_support_data` takes the decoded JSON and what the database already holds
(`Existing`, read by `writing.read_existing`) and gives typed records back, or raises
`InvalidSupportData` listing every bad record by index (`orders[3]: amount: 'abc' is not an
amount of rupees`), so that nothing is written unless the whole file is good.

File format: `{"customers": [...], "orders": [...]}`, times ISO-8601 (a time without an
offset is taken as UTC, as every stored time is; none after the time of loading), money in
rupees as a number or a string (`449.5`, `"449.50"`, `"₹1,23,456.50"`: commas only between
thousands), stored as integer paise.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from support import order_ids
from support.goodwill import MANUAL_TIER
from support.models import DELIVERED_STATUSES, OrderStatus
from support.money import MoneyError, format_inr, percent_of, to_paise

CUSTOMER_FIELDS = frozenset({"user_id", "name", "phone", "email", "wallet_balance", "created_at"})
ORDER_FIELDS = frozenset(
    {"order_id", "user_id", "restaurant", "items", "amount", "status", "placed_at",
     "delivered_at", "refund"}
)
ITEM_FIELDS = frozenset({"name", "qty", "price"})
# `tier` and `reason` go to the order's `refunds` document; the order keeps the four others.
REFUND_FIELDS = frozenset({"amount", "percent", "refund_id", "at", "tier", "reason"})
TOP_LEVEL_KEYS = frozenset({"customers", "orders"})

STATUSES = tuple(OrderStatus.values)
# The database stores 8-byte integers: a larger id or quantity is a corrupt file, said by index.
INT64_MAX = 2**63 - 1

# E.164: a plus sign and 8 to 15 digits. Spaces, dots and dashes people type are dropped;
# a number without its country code is refused rather than guessed (callers are matched on
# the exact number Twilio sends).
_PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


class InvalidSupportData(ValueError):
    """The file cannot be loaded; `errors` names every bad record by its index."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the support data")
        self.errors = list(errors)


@dataclass(frozen=True)
class CustomerRecord:
    user_id: int
    name: str
    phone: str
    # None: not in the file, so an existing customer keeps its value (a new one gets the default).
    email: str | None = None
    wallet_balance: int | None = None
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class ItemRecord:
    name: str
    qty: int
    price: int


@dataclass(frozen=True)
class RefundRecord:
    amount: int
    percent: int
    refund_id: str
    at: dt.datetime
    # None: not in the file, so a refund on record keeps its own; a new one is named after
    # the refund tier with this percent, and has no reason.
    tier: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class OrderRecord:
    order_id: str
    user_id: int
    restaurant: str
    items: tuple[ItemRecord, ...]
    amount: int
    status: str
    placed_at: dt.datetime
    delivered_at: dt.datetime | None = None
    refund: RefundRecord | None = None


@dataclass(frozen=True)
class SupportData:
    customers: tuple[CustomerRecord, ...] = ()
    orders: tuple[OrderRecord, ...] = ()


@dataclass(frozen=True)
class Existing:
    """What the database already holds that a file must agree with."""

    phones_by_user: Mapping[int, str] = field(default_factory=dict)
    users_by_phone: Mapping[str, int] = field(default_factory=dict)
    # Refunds already made: an import may repeat one but never drop or replace it, so that an
    # order keeps exactly one refund, nor change what it paid (amount in paise, percent).
    refund_by_order: Mapping[str, str] = field(default_factory=dict)
    order_by_refund: Mapping[str, str] = field(default_factory=dict)
    paid_by_refund: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # Whose each order is: an import never moves an order (its refund, and the wallet credit
    # that paid it, stay with the customer who had it).
    user_by_order: Mapping[str, int] = field(default_factory=dict)
    # Wallet balances: a file's balance opens a new customer's wallet; an existing wallet moves
    # only with refunds and credits (each on record), so a file never overwrites it.
    balance_by_user: Mapping[int, int] = field(default_factory=dict)


def wallet_balances_kept(data: SupportData, existing: Existing) -> list[int]:
    """The customers already in the database whose balance the file gives otherwise: theirs
    stays as it is (`write_support_data` sets a balance only on a new customer)."""
    return [c.user_id for c in data.customers
            if c.wallet_balance is not None and c.user_id in existing.balance_by_user
            and existing.balance_by_user[c.user_id] != c.wallet_balance]  # fmt: skip


# --- Reading one record's fields ----------------------------------------------------------

_MISSING = object()


class _Fields:
    """Reads one record's fields, noting each problem as `path: field: message`."""

    def __init__(self, path: str, record: Mapping[str, Any], errors: list[str]) -> None:
        self.path, self.record, self.errors = path, record, errors
        self._first_error = len(errors)

    @property
    def ok(self) -> bool:
        return len(self.errors) == self._first_error

    def error(self, name: str, message: str) -> None:
        self.errors.append(f"{self.path}: {name}: {message}")

    def reject_unknown(self, allowed: frozenset[str]) -> None:
        # A misspelt optional field (`delivered_on`) would otherwise vanish silently.
        for name in sorted(set(self.record) - allowed):
            self.error(name, "unknown field")

    def value(self, name: str, required: bool) -> Any:
        value = self.record.get(name)
        if value is None:
            if required:
                self.error(name, "required")
            return _MISSING
        return value

    def text(self, name: str, *, max_length: int, required: bool = True) -> str | None:
        value = self.value(name, required)
        if value is _MISSING:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(name, f"{value!r} is not a non-empty string")
            return None
        if (surrogate := _lone_surrogate(value)) is not None:
            self.error(name, f"{value!r:.60} holds a lone surrogate (\\u{ord(surrogate):04x}), "
                             "not text")  # fmt: skip
            return None
        if len(value) > max_length:
            self.error(name, f"longer than {max_length} characters")
            return None
        return value.strip()

    def order_id(self, name: str = "order_id") -> str | None:
        """An order id as support/order_ids.py defines it (the tools find what this accepts)."""
        value = self.value(name, True)
        if value is _MISSING:
            return None
        try:
            return order_ids.clean(value)
        except order_ids.InvalidOrderId as error:
            self.error(name, f"{value!r:.40}: {error}")
            return None

    def integer(self, name: str, *, minimum: int, maximum: int = INT64_MAX) -> int | None:
        value = self.value(name, True)
        if value is _MISSING:
            return None
        # bool is an int in Python; `true` in a file is a mistake, not 1.
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(name, f"{value!r} is not a whole number")
            return None
        if not minimum <= value <= maximum:
            bounds = f"from {minimum}" + (f" to {maximum}" if maximum < INT64_MAX else "")
            self.error(name, f"{value} is out of range ({bounds})")
            return None
        return value

    def money(self, name: str, *, required: bool = True) -> int | None:
        value = self.value(name, required)
        if value is _MISSING:
            return None
        if not isinstance(value, (str, int, float)):
            self.error(name, f"{value!r} is not an amount of rupees")
            return None
        try:
            paise = to_paise(value)
        except MoneyError as error:
            self.error(name, str(error))
            return None
        if paise < 0:
            self.error(name, f"{value!r} is negative")
            return None
        return paise

    def time(self, name: str, *, required: bool = True) -> dt.datetime | None:
        value = self.value(name, required)
        if value is _MISSING:
            return None
        parsed = parse_time(value)
        if parsed is None:
            self.error(name, f"{value!r} is not an ISO-8601 time")
        return parsed


def _lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text`, or None. JSON's "\\ud800" decodes to one (an
    exporter that cut a UTF-16 pair in two): no character, which the database cannot store or
    be asked about."""
    return next((char for char in text if "\ud800" <= char <= "\udfff"), None)


def parse_time(value: object) -> dt.datetime | None:
    """An ISO-8601 string as an aware UTC datetime (no offset means UTC); None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00: past the last time there is, in UTC
        return None


def normalize_phone(value: str) -> str | None:
    """`+91 98123-45678` -> `+919812345678`; None when it is not an international number."""
    phone = _PHONE_PUNCTUATION.sub("", value)
    return phone if _PHONE.match(phone) else None


# --- Records ------------------------------------------------------------------------------


def _record(path: str, raw: object, errors: list[str]) -> _Fields | None:
    if not isinstance(raw, dict):
        errors.append(f"{path}: is not an object")
        return None
    return _Fields(path, raw, errors)


def _customer(path: str, raw: object, errors: list[str]) -> CustomerRecord | None:
    f = _record(path, raw, errors)
    if f is None:
        return None
    f.reject_unknown(CUSTOMER_FIELDS)
    user_id = f.integer("user_id", minimum=1)
    name = f.text("name", max_length=120)
    phone = f.text("phone", max_length=32)
    if phone is not None:
        phone = normalize_phone(phone)
        if phone is None:
            f.error("phone", f"{f.record['phone']!r} is not an international number "
                             "like +919812345678")
    # "" is how many exports say "no email"; the model allows a blank one.
    email = "" if f.record.get("email") == "" else f.text("email", max_length=254,
                                                           required=False)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            f.error("email", f"{email!r} is not an email address")
    wallet_balance = f.money("wallet_balance", required=False)
    created_at = f.time("created_at", required=False)
    if not f.ok or user_id is None or name is None or phone is None:
        return None
    return CustomerRecord(user_id, name, phone, email, wallet_balance, created_at)


def _items(f: _Fields) -> tuple[ItemRecord, ...] | None:
    raw = f.value("items", True)
    if raw is _MISSING:
        return None
    if not isinstance(raw, list) or not raw:
        f.error("items", "must be a non-empty list of {name, qty, price}")
        return None
    items: list[ItemRecord] = []
    for index, raw_item in enumerate(raw):
        item = _record(f"{f.path}: items[{index}]", raw_item, f.errors)
        if item is None:
            continue
        item.reject_unknown(ITEM_FIELDS)
        name = item.text("name", max_length=120)
        qty = item.integer("qty", minimum=1)
        price = item.money("price")
        if name is not None and qty is not None and price is not None:
            items.append(ItemRecord(name, qty, price))
    return tuple(items) if len(items) == len(raw) else None


def _refund(f: _Fields, amount: int | None) -> RefundRecord | None:
    raw = f.record.get("refund")
    if raw is None:
        return None
    r = _record(f"{f.path}: refund", raw, f.errors)
    if r is None:
        return None
    r.reject_unknown(REFUND_FIELDS)
    refund_amount = r.money("amount")
    percent = r.integer("percent", minimum=0, maximum=100)
    refund_id = r.text("refund_id", max_length=32)
    at = r.time("at")
    tier = r.text("tier", max_length=40, required=False)
    reason = r.text("reason", max_length=2000, required=False)
    if refund_amount is not None and amount is not None and refund_amount > amount:
        r.error("amount", "is more than the order's amount")
    elif refund_amount is not None and amount is not None and percent is not None:
        _check_refund_is_its_percent(r, refund_amount, percent, amount, manual=tier == MANUAL_TIER)
    if not r.ok or refund_amount is None or percent is None or refund_id is None or at is None:
        return None
    return RefundRecord(refund_amount, percent, refund_id, at, tier, reason)


# The agent's refunds are `percent_of` the order, rounded half up to the paisa; an older
# system's may have rounded otherwise (down, half to even), which is a paisa at most. A manual
# refund (tier MANUAL_TIER, support/goodwill.py) is any amount, its percent that share rounded
# to a whole one.
REFUND_ROUNDING_PAISE = 1


def _check_refund_is_its_percent(r: _Fields, refund_amount: int, percent: int, amount: int,
                                 *, manual: bool) -> None:
    """A refund pays its percent of the order: the wallet was credited that, and the refund
    record, the staff pages and the agent say both figures."""
    if manual:
        if abs(100 * refund_amount - percent * amount) * 2 > amount:  # not its share, to 1%
            r.error("percent", f"{percent}% is not the share of the order's "
                               f"{format_inr(amount)} that {format_inr(refund_amount)} is, "
                               "to a whole percent")
        return
    expected = percent_of(amount, percent)
    if abs(refund_amount - expected) > REFUND_ROUNDING_PAISE:
        r.error("amount", f"{format_inr(refund_amount)} is not {percent}% of the order's "
                          f"{format_inr(amount)}, which is {format_inr(expected)} (a paisa "
                          "either way is allowed for rounding)")


def _status(f: _Fields) -> str | None:
    status = f.value("status", True)
    if status is _MISSING:
        return None
    if status not in STATUSES:
        f.error("status", f"{status!r} is not one of {', '.join(STATUSES)}")
        return None
    return str(status)


def _check_lifecycle(f: _Fields, status: str, order: Mapping[str, Any]) -> None:
    """Delivery time and refund must agree with the status, as the refund tool expects."""
    delivered = status in DELIVERED_STATUSES
    if delivered and order.get("delivered_at") is None:
        f.error("delivered_at", f"required for a {status} order")
    if not delivered and order.get("delivered_at") is not None:
        f.error("delivered_at", f"must be null for a {status} order")
    if status == OrderStatus.REFUNDED and order.get("refund") is None:
        f.error("refund", "required for a refunded order")
    if status != OrderStatus.REFUNDED and order.get("refund") is not None:
        f.error("refund", f"a {status} order has no refund (a refunded order's status is "
                          "'refunded')")


def _order(path: str, raw: object, errors: list[str]) -> OrderRecord | None:
    f = _record(path, raw, errors)
    if f is None:
        return None
    f.reject_unknown(ORDER_FIELDS)
    order_id = f.order_id()
    user_id = f.integer("user_id", minimum=1)
    restaurant = f.text("restaurant", max_length=120)
    items = _items(f)
    amount = f.money("amount")
    status = _status(f)
    placed_at = f.time("placed_at")
    delivered_at = f.time("delivered_at", required=False)
    refund = _refund(f, amount)
    if status is not None:
        _check_lifecycle(f, status, f.record)
    if placed_at and delivered_at and delivered_at < placed_at:
        f.error("delivered_at", "is before placed_at")
    if refund is not None and delivered_at and refund.at < delivered_at:
        # A refund is of a delivered order (contract section 6): never before its delivery.
        f.error("refund", "its time (at) is before delivered_at")
    if (not f.ok or order_id is None or user_id is None or restaurant is None or items is None
            or amount is None or status is None or placed_at is None):
        return None
    return OrderRecord(order_id, user_id, restaurant, items, amount, status, placed_at,
                       delivered_at, refund)


# --- The whole file -----------------------------------------------------------------------


def _list(raw: Mapping[str, Any], key: str, errors: list[str]) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        errors.append(f"{key}: must be a list")
        return []
    return value


K = TypeVar("K")


def _first_index(seen: dict[K, int], key: K, index: int) -> int | None:
    """The index `key` was first seen at, if before `index`; records `index` otherwise."""
    first = seen.setdefault(key, index)
    return first if first != index else None


def _check_customer_keys(customers: Iterable[tuple[int, CustomerRecord]],
                         existing: Existing, errors: list[str]) -> None:
    seen_ids: dict[int, int] = {}
    seen_phones: dict[str, int] = {}
    for index, customer in customers:
        path = f"customers[{index}]"
        if (first := _first_index(seen_ids, customer.user_id, index)) is not None:
            errors.append(f"{path}: user_id: {customer.user_id} repeats customers[{first}]")
        if (first := _first_index(seen_phones, customer.phone, index)) is not None:
            errors.append(f"{path}: phone: {customer.phone} repeats customers[{first}]")
        owner = existing.users_by_phone.get(customer.phone)
        if owner is not None and owner != customer.user_id:
            errors.append(f"{path}: phone: {customer.phone} belongs to customer {owner} "
                          "in the database")


def _check_order_keys(orders: Iterable[tuple[int, OrderRecord]], user_ids: set[int],
                      existing: Existing, errors: list[str]) -> None:
    seen_orders: dict[str, int] = {}
    seen_refunds: dict[str, int] = {}
    for index, order in orders:
        path = f"orders[{index}]"
        if (first := _first_index(seen_orders, order.order_id, index)) is not None:
            errors.append(f"{path}: order_id: {order.order_id} repeats orders[{first}]")
        if order.user_id not in user_ids:
            errors.append(f"{path}: user_id: no customer {order.user_id} in the file or "
                          "the database")
        owner = existing.user_by_order.get(order.order_id)
        if owner is not None and owner != order.user_id:
            errors.append(f"{path}: user_id: {order.order_id} belongs to customer {owner} "
                          "in the database")
        _check_refund_keys(path, order, existing, seen_refunds, errors)
        if order.refund is not None:
            seen_refunds.setdefault(order.refund.refund_id, index)


def _check_refund_keys(path: str, order: OrderRecord, existing: Existing,
                       seen_refunds: Mapping[str, int], errors: list[str]) -> None:
    refunded_as = existing.refund_by_order.get(order.order_id)
    refund = order.refund
    if refunded_as is not None and (refund is None or refund.refund_id != refunded_as):
        errors.append(f"{path}: refund: {order.order_id} was already refunded as "
                      f"{refunded_as}; the file must carry that refund")
    if refund is None:
        return
    refund_id = refund.refund_id
    if refund_id in seen_refunds:
        errors.append(f"{path}: refund: refund_id {refund_id} repeats "
                      f"orders[{seen_refunds[refund_id]}]")
    other_order = existing.order_by_refund.get(refund_id)
    if other_order is not None and other_order != order.order_id:
        errors.append(f"{path}: refund: refund_id {refund_id} belongs to order {other_order} "
                      "in the database")
    paid = existing.paid_by_refund.get(refund_id)
    if paid is not None and paid != (refund.amount, refund.percent):
        errors.append(f"{path}: refund: {refund_id} is on record as {format_inr(paid[0])} "
                      f"({paid[1]}%); the file gives {format_inr(refund.amount)} "
                      f"({refund.percent}%), and a refund made is never changed")


# How far ahead of ours the exporting system's clock may be. A local time read as UTC is
# off by at least half an hour (Nepal's 5:45 and India's 5:30 far more).
CLOCK_SKEW = dt.timedelta(minutes=5)


def _check_not_after(now: dt.datetime, customers: Iterable[tuple[int, CustomerRecord]],
                     orders: Iterable[tuple[int, OrderRecord]], errors: list[str]) -> None:
    """A file records what happened: a time after `now` (beyond CLOCK_SKEW) is a mistake,
    most often a local time without its offset (read as UTC). A delivery "in the future"
    would hold the refund window open until two hours after it."""
    times = [(f"customers[{index}]: created_at", customer.created_at)
             for index, customer in customers]  # fmt: skip
    for index, order in orders:
        times += [(f"orders[{index}]: placed_at", order.placed_at),
                  (f"orders[{index}]: delivered_at", order.delivered_at),
                  (f"orders[{index}]: refund: at", order.refund.at if order.refund else None)]
    for path, time in times:
        if time is not None and time > now + CLOCK_SKEW:
            errors.append(f"{path}: {time:%Y-%m-%d %H:%M:%S} UTC is after the time of loading "
                          f"({now.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC); a time without "
                          "an offset is read as UTC")


def parse_support_data(raw: object, existing: Existing | None = None, *,
                       now: dt.datetime | None = None) -> SupportData:
    """Validate a decoded file as a whole; raise InvalidSupportData naming every problem.

    With `now` (the time of loading), times after it are refused too.
    """
    existing = existing or Existing()
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise InvalidSupportData(['the file must hold an object {"customers": [...], '
                                  '"orders": [...]}'])
    for key in sorted(set(raw) - TOP_LEVEL_KEYS):
        errors.append(f"{key}: unknown key (expected customers and orders)")
    customers = [
        (index, customer)
        for index, item in enumerate(_list(raw, "customers", errors))
        if (customer := _customer(f"customers[{index}]", item, errors)) is not None
    ]
    orders = [
        (index, order)
        for index, item in enumerate(_list(raw, "orders", errors))
        if (order := _order(f"orders[{index}]", item, errors)) is not None
    ]
    _check_customer_keys(customers, existing, errors)
    user_ids = {c.user_id for _, c in customers} | set(existing.phones_by_user)
    _check_order_keys(orders, user_ids, existing, errors)
    if now is not None:
        _check_not_after(now, customers, orders, errors)
    if errors:
        raise InvalidSupportData(errors)
    return SupportData(tuple(c for _, c in customers), tuple(o for _, o in orders))


def keys_in(raw: object) -> tuple[set[int], set[str], set[str], set[str]]:
    """The user ids, phones, order ids and refund ids a (not yet valid) file mentions, so
    that only the matching database records need reading."""
    user_ids: set[int] = set()
    phones: set[str] = set()
    order_ids: set[str] = set()
    refund_ids: set[str] = set()
    if not isinstance(raw, dict):
        return user_ids, phones, order_ids, refund_ids
    for record in _dicts(raw.get("customers")) + _dicts(raw.get("orders")):
        if isinstance(record.get("user_id"), int) and abs(record["user_id"]) <= INT64_MAX:
            user_ids.add(record["user_id"])
        if _key(record.get("phone")):
            phones.add(normalize_phone(record["phone"]) or record["phone"])
        if _key(record.get("order_id")):
            order_ids.add(record["order_id"].strip())
        refund = record.get("refund")
        if isinstance(refund, dict) and _key(refund.get("refund_id")):
            refund_ids.add(refund["refund_id"].strip())
    return user_ids, phones, order_ids, refund_ids


def _key(value: object) -> bool:
    """Whether `value` can be looked up (the record is refused otherwise, by index)."""
    return isinstance(value, str) and _lone_surrogate(value) is None


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
