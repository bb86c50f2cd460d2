"""One search box for the back office: a name, phone, email, user id, or any public id
(order, ticket, call, complaint, refund). Every list filter that takes "a customer" reads it
the same way (`find_customers`), so a phone number the search finds, the call filter finds.

Ids are looked up exactly (by index, trying the case people mistype); phones by their last
ten digits (an exact index lookup when the number is complete); names by the prefixes of
their words (support/name_keys.py: "aar sh" finds Aarav Sharma), through an index.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.http import urlencode

from support.customers import MAX_USER_ID
from support.escalations import reason_in_words
from support.models import Call, Complaint, Customer, Escalation, Order, Refund
from support.mongo import sync_db
from support.name_keys import MAX_KEY, matches, words
from support.staff.people import PERSON_FIELDS

MAX_CUSTOMERS = 50
MAX_CANDIDATES = 5000  # customers sharing the longest word typed, checked for the others
MAX_TERM = 100
_PHONE_CHARS = re.compile(r"^[\d\s()+.-]+$")
MAX_ID = 64  # longer than any id: order ids have at most 32 characters (support/order_ids.py)


def _digits(term: str) -> str:
    """The digits of `term`, in ASCII whatever the script typed ("९८७६" -> "9876")."""
    return "".join(str(unicodedata.decimal(char)) for char in term if char.isdecimal())


def looks_like_phone(term: str) -> bool:
    return bool(_PHONE_CHARS.match(term)) and len(_digits(term)) >= 6


def find_customers(term: str, limit: int = MAX_CUSTOMERS) -> list[Customer]:
    """Customers a person means by `term`: a user id ("301", or "#301" for that alone), a
    phone (any spacing, with or without +91) or its last digits (six or more digits may also
    be a user id), an email, or part of a name. Empty for an empty term."""
    term = term.strip()[:MAX_TERM]
    if not term:
        return []
    customers = Customer.objects.only(*PERSON_FIELDS, "email").order_by()
    digits = _digits(term)
    if term.startswith("#") and _all_digits(term[1:].lstrip()):  # "# 301" too
        return _by_user_id(customers, term[1:].lstrip())
    if _all_digits(term) and not looks_like_phone(term):
        return _by_user_id(customers, term)
    if looks_like_phone(term):
        if len(digits) >= 10:
            numbers = {"+" + digits, "+91" + digits[-10:]}
            found = list(customers.filter(phone__in=numbers)[:limit])
            if not found:  # a number from abroad as its country writes it: "07700 900123"
                found = list(customers.filter(phone__endswith=digits[-10:])[:limit])
        else:  # the last digits of a number ("the one ending 500001")
            found = list(customers.filter(phone__endswith=digits)[:limit])
        if _all_digits(term):  # digits alone may be a user id as well
            found += [c for c in _by_user_id(customers, term) if c not in found]
        return found
    if "@" in term:
        return _by_email(customers, term, limit)
    return _by_name(term, limit)


def _all_digits(text: str) -> bool:
    # Decimal digits of any script, all of which int() reads (not "²", which isdigit() takes).
    return text.isdecimal()


def _by_user_id(customers: QuerySet[Customer], digits: str) -> list[Customer]:
    user_id = int(digits)
    return list(customers.filter(user_id=user_id)) if user_id <= MAX_USER_ID else []


def _by_email(customers: QuerySet[Customer], term: str, limit: int) -> list[Customer]:
    """Emails are stored as written: the spellings people type are looked up through the
    index; only when neither is there are all compared ignoring case (the backend's iexact is
    an unescaped pattern: "a.b+c@x.in" would not find itself, and would find "aXb@x.in")."""
    found = list(customers.filter(email__in={term, term.lower()})[:limit])
    if found:
        return found
    return list(customers.filter(email__iregex=f"^{re.escape(term)}$")[:limit])


def _by_name(term: str, limit: int) -> list[Customer]:
    """Customers each of whose words `term`'s words start ("aar sh" finds Aarav Sharma, "a s"
    finds A. K. Singh too)."""
    wanted = [word[:MAX_KEY] for word in words(term)]
    if not wanted:  # punctuation alone ("(", "..."): no name is that, and no need to read them
        return []
    # The longest word is the most selective key; the others are checked here.
    key = max(wanted, key=len)
    docs = sync_db().customers.find({"name_keys": key}, {"_id": 0, "user_id": 1, "name": 1},
                                    limit=MAX_CANDIDATES)  # fmt: skip
    # The first `limit` by name, as the other matches are listed: not the database's order.
    named = sorted((doc for doc in docs if matches(doc.get("name", ""), wanted)),
                   key=lambda doc: str(doc.get("name", "")))  # fmt: skip
    ids = [doc["user_id"] for doc in named][:limit]
    found = Customer.objects.filter(user_id__in=ids).only(*PERSON_FIELDS, "email")
    return sorted(found, key=lambda customer: customer.name) if ids else []


@dataclass
class Hit:
    kind: str  # "customer", "order", "ticket", "call", "complaint", "refund"
    label: str
    url: str
    detail: str = ""
    row: Any = None


@dataclass
class Results:
    term: str
    customers: list[Customer] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    more: bool = False  # more customers match than `customers` holds (MAX_CUSTOMERS)

    @property
    def only_url(self) -> str | None:
        """Where to go when the search found exactly one thing."""
        everything = [*self.hits, *self.customers]
        if len(everything) != 1:
            return None
        return self.hits[0].url if self.hits else customer_url(self.customers[0].user_id)


def customer_url(user_id: int) -> str:
    return reverse("staff:customer", args=[user_id])


def id_spellings(term: str) -> list[str]:
    """The id as typed, upper-cased, lower-cased (a username), as a call id (`CALL-` then
    lower-case hex), and with its spaces as a hyphen or none ("ord 1196", as an id is read out
    over the phone): what to look up exactly, through an index, for an id typed in any case."""
    upper = term.upper()
    spellings = [term, upper, term.lower()]
    if " " in term:
        spellings += ["-".join(upper.split()), "".join(upper.split())]
    # "CALL-1A2B…", "call-1a2b…" and "call 1a2b…" alike: a call id's hex is lower-case.
    spellings += ["CALL-" + spelling[5:].lower() for spelling in spellings
                  if spelling.upper().startswith("CALL-")]  # fmt: skip
    return list(dict.fromkeys(spellings))


# Who may read each kind of record the search finds (the page its hit links to asks the same).
READ_PERMISSIONS = {
    "order": "support.view_order",
    "ticket": "support.view_escalation",
    "call": "support.view_call",
    "complaint": "support.view_complaint",
    "refund": "support.view_refund",
}


def find_ids(term: str, kinds: Collection[str] = READ_PERMISSIONS) -> list[Hit]:
    """Every order, ticket, call, complaint and refund whose id is `term` (case forgiven),
    of the `kinds` asked for (those the person searching may read)."""
    # Any printable text may be an id (an order's is whatever the business's data holds: "ORD 7",
    # "A&B-1", "X#12"); each is looked up exactly, through its index.
    if len(term) > MAX_ID or not term.isprintable():
        return []
    spellings = id_spellings(term)
    hits: list[Hit] = []
    if "order" in kinds:
        for order in Order.objects.filter(order_id__in=spellings).only("order_id", "customer"):
            hits.append(Hit("order", order.order_id,
                            reverse("admin:support_order_change", args=[order.pk]), row=order))
    if "ticket" in kinds:
        for ticket in Escalation.objects.filter(ticket_id__in=spellings).defer("notes"):
            hits.append(Hit("ticket", ticket.ticket_id,
                            reverse("staff:ticket", args=[ticket.ticket_id]),
                            reason_in_words(ticket.reason), ticket))  # fmt: skip
    if "call" in kinds:
        for call in Call.objects.filter(call_id__in=spellings).only("call_id", "customer"):
            hits.append(Hit("call", call.call_id, reverse("staff:call", args=[call.call_id]),
                            row=call))
    if "complaint" in kinds:
        for complaint in Complaint.objects.filter(complaint_id__in=spellings):
            hits.append(Hit("complaint", complaint.complaint_id,
                            reverse("admin:support_complaint_change", args=[complaint.pk]),
                            complaint.description, complaint))
    if "refund" in kinds:
        for refund in Refund.objects.filter(refund_id__in=spellings):
            hits.append(Hit("refund", refund.refund_id,
                            reverse("admin:support_refund_changelist")
                            + "?" + urlencode({"q": refund.refund_id}),
                            row=refund))
    return hits


def search(term: str, kinds: Collection[str] = READ_PERMISSIONS) -> Results:
    """What `term` finds: records of the `kinds` given (see find_ids), else customers."""
    term = term.strip()[:MAX_TERM]
    results = Results(term)
    if not term:
        return results
    results.hits = find_ids(term, kinds)
    if not results.hits:
        found = find_customers(term, limit=MAX_CUSTOMERS + 1)
        results.customers, results.more = found[:MAX_CUSTOMERS], len(found) > MAX_CUSTOMERS
    return results
