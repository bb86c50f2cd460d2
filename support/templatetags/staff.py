"""Filters for the staff pages: people, money, durations and labels as people read them."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeData, SafeString

from support.escalations import reason_in_words
from support.money import format_inr
from support.staff import conversation, labels
from support.staff.access import VIEW_CUSTOMERS
from support.staff.aftercall import money
from support.staff.charts import wait_label

register = template.Library()

# An id in a sentence ("ticket TKT-9XK2QA", "about ORD-1137", "CALL-229a2d…"): two to five
# capitals, a hyphen, then letters and digits with at least one digit or capital. Ids of other
# shapes (an order's is whatever the business's data holds) stay plain text.
_ID_IN_TEXT = re.compile(r"(?<![\w-])([A-Z]{2,5}-(?=[a-z]*[A-Z0-9])[A-Za-z0-9]+)(?![\w-])")


@register.filter
def person(customer: Any, user_id: Any = None) -> SafeString | str:
    """A customer as "Name · +91 98000 00301", linked to their page; who else it could be."""
    if customer is None:
        return f"Customer #{user_id} (not found)" if user_id is not None else "Not identified"
    url = getattr(customer, "url", None) or reverse("staff:customer", args=[customer.user_id])
    return format_html('<a class="person" href="{}">{}</a> <span class="phone">{}</span>',
                       url, customer.name, labels.phone_label(customer.phone))


@register.simple_tag(takes_context=True)
def customer_as_allowed(context: template.Context, customer: Any,
                        user_id: Any = None) -> SafeString | str:  # fmt: skip
    """`person` for staff who may view customers; for the others the name alone, without
    the phone or a link to a page they cannot open: a name is what working a ticket or
    reading a call needs, the customer's contact details are not."""
    perms = context.get("perms")
    if perms is not None and VIEW_CUSTOMERS in perms:
        return person(customer, user_id)
    return str(customer.name) if customer is not None else person(None, user_id)


@register.filter
def ids(text: Any) -> SafeString:
    """`text` escaped, with each id in it in a `.id` span, which keeps it on one line (a phone
    would break "TKT-9XK2QA" after its hyphen). Markup already made safe is left as it is."""
    if isinstance(text, SafeData):
        return SafeString(text)
    pieces = _ID_IN_TEXT.split("" if text is None else str(text))
    html = SafeString()
    for n, piece in enumerate(pieces):  # the ids are the odd pieces
        html += format_html('<span class="id">{}</span>', piece) if n % 2 else escape(piece)
    return html


@register.filter
def named(username: Any, names: Any) -> str:
    """A colleague as they are known (`names`: support.staff.people.staff_names()); the
    username of someone no longer on the team."""
    return names.get(username, username) if username else ""


@register.filter
def waited(since: Any, until: Any = None) -> str:
    return labels.waited(since, until) if since else "—"


@register.filter
def ticket_reason(reason: Any) -> str:
    """A ticket's reason in words, an old one with a failure code too (reason_in_words)."""
    return reason_in_words(str(reason or ""))


@register.filter
def inr(paise: Any) -> str:
    return "—" if paise is None or paise == "" else format_inr(int(paise))


@register.filter
def grouped(count: Any) -> str:
    return labels.grouped(int(count)) if isinstance(count, int) else str(count)


@register.filter
def mmss(seconds: Any) -> str:
    return labels.mmss(None if seconds is None else float(seconds))


@register.filter
def outcome(value: Any) -> str:
    return labels.outcome_label(value)


@register.filter
def ended(value: Any) -> str:
    return labels.end_reason_label(value)


@register.filter
def phone(value: Any) -> str:
    return labels.phone_label(value)


@register.filter
def humanize(value: Any) -> str:
    return labels.humanize(str(value or ""))


@register.filter
def order_status(value: Any) -> str:
    """ "out_for_delivery" -> "Out for delivery"; "preparing" -> "Being prepared"."""
    return labels.humanize(conversation.ORDER_STATUSES.get(str(value), str(value or "")))


@register.filter
def category(value: Any) -> str:
    return conversation.COMPLAINT_CATEGORIES.get(str(value), labels.humanize(str(value or "")))


@register.filter
def cost(minor: Any) -> str:
    """A model cost in COST_CURRENCY's minor unit (paise) as people read it."""
    return "—" if minor is None else money(round(minor), settings.COST_CURRENCY)


@register.filter
def answer_times(day: Any) -> str:
    """A dashboard day's or week's answer time, "0.95 s / 2.40 s" (p50 / p95)."""
    p50, p95 = day.wait_s(50), day.wait_s(95)
    return "—" if p50 is None else f"{wait_label(p50)} / {wait_label(p95)}"
