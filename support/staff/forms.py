"""Forms of the staff pages (assign a ticket, add a note, filter calls)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from postcall.outcome import NOT_A_CALL_MATCH
from support.money import MoneyError, format_inr, rupees, to_paise
from support.mongo import Document
from support.staff.access import CHANGE_TICKETS
from support.staff.labels import (
    CHANNEL_LABELS,
    END_REASON_LABELS,
    OUTCOME_LABELS,
    end_reasons_meaning,
)
from support.staff.people import names_of_those_who_may
from support.staff.search import MAX_CUSTOMERS, find_customers, looks_like_phone


class RupeesField(forms.CharField):
    """Rupees in the form ("5000" or "5,000.50"), paise in the model."""

    def prepare_value(self, value: Any) -> Any:
        return rupees(value) if isinstance(value, int) else value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            return to_paise(text)
        except MoneyError as error:
            raise ValidationError(
                f"Enter an amount in rupees, like 5000 or 2500.50 ({error})."
            ) from error


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label="Assign to")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ChoiceField)  # declared just above
        # Colleagues who may work a ticket (note and resolve it), by the names they are known
        # by; the ticket keeps the username.
        workers = names_of_those_who_may(CHANGE_TICKETS)
        # First a choice of nobody: a ticket nobody holds would otherwise show the first
        # colleague chosen, and "Assign" give it to them unasked.
        assignee.choices = [("", "— choose a colleague —"),
                            *sorted(workers.items(), key=lambda pair: (pair[1], pair[0]))]


class NoteForm(forms.Form):
    """A note on a ticket. `request_key` is drawn when the form is shown: the same form sent
    twice (a double click, a page sent again) adds one note (views/queue.py: add_note)."""

    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("request_key", new_request_key())
        super().__init__(*args, **kwargs)


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _choices(labels: dict[str, str]) -> list[tuple[str, str]]:
    return [("", "any"), *sorted(labels.items(), key=lambda item: item[1])]


# Days a range may name: a year like 9999 or 0001 is a typo (and out of datetime's range once
# the day after or UTC is taken), said on its field rather than failing the page.
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


def _day_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False, label=label, widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
    )  # fmt: skip


class DayRangeForm(forms.Form):
    """From/to local days (both inclusive); a day that is not a date is an error on its field."""

    since = _day_field("From")
    until = _day_field("To")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end is before the start.")
        return cleaned

    def time_range(self) -> dict[str, dt.datetime]:
        """`{"$gte": …, "$lt": …}` for the chosen days (valid forms only)."""
        data = self.cleaned_data if self.is_bound else {}
        bounds: dict[str, dt.datetime] = {}
        if data.get("since"):
            bounds["$gte"] = _local_midnight(data["since"])
        if data.get("until"):
            bounds["$lt"] = _local_midnight(data["until"] + dt.timedelta(days=1))
        return bounds


CONTACT_SEARCH_REFUSED = ("Finding a customer by phone or email needs the right to see "
                          "customers: use their name or user id.")


def customer_term(term: str, *, may_see_contacts: bool) -> str | None:
    """`term` as a search for customers (find_customers) reads it for a reader: one who may
    not see customers' phones and emails finds a customer by name or user id alone (digits
    are then a user id, never a phone's last digits), since whatever lists the customers
    found would say whose a number is; None for a phone or an email they may not search by."""
    if may_see_contacts:
        return term
    if term.lstrip("#").strip().isdecimal():
        return "#" + term.lstrip("#").strip()
    if "@" in term or looks_like_phone(term):
        return None
    return term


class CallFilterForm(DayRangeForm):
    """The call list's filters. Invalid filters are errors shown next to their field, and the
    list is not shown at all until they are fixed: a filter is never silently dropped."""

    customer = forms.CharField(required=False, max_length=100,
                               help_text="name, phone, email or user id (e.g. #301)")
    channel = forms.ChoiceField(required=False, choices=_choices(CHANNEL_LABELS))
    outcome = forms.ChoiceField(required=False, choices=_choices(OUTCOME_LABELS))
    end_reason = forms.ChoiceField(required=False, label="Ended",
                                   choices=_choices(END_REASON_LABELS))

    def __init__(self, *args: Any, may_see_contacts: bool = True, **kwargs: Any) -> None:
        """`may_see_contacts`: whether the reader may see customers' phones and emails (the
        customers permission). Without it a customer is found by name or user id only: the
        list names whose calls match, so a phone or email typed here would say whose it is."""
        super().__init__(*args, **kwargs)
        self.may_see_contacts = may_see_contacts

    def clean_customer(self) -> list[int] | None:
        term = self.cleaned_data.get("customer", "").strip()
        if not term:
            return None
        searched = customer_term(term, may_see_contacts=self.may_see_contacts)
        if searched is None:
            raise ValidationError(CONTACT_SEARCH_REFUSED)
        term = searched
        user_ids = [c.user_id for c in find_customers(term, limit=MAX_CUSTOMERS + 1)]
        if not user_ids:
            raise ValidationError(f"No customer matches “{term}”.")
        if len(user_ids) > MAX_CUSTOMERS:  # their calls would be only some of the matches'
            raise ValidationError(
                f"More than {MAX_CUSTOMERS} customers match “{term}”: add more of the name, "
                "or use a phone number, email or user id."
            )
        return user_ids

    def match(self) -> Document:
        """The calls the valid filters select, as a MongoDB filter (call is_valid() first)."""
        data = self.cleaned_data if self.is_bound else {}
        match: Document = {}
        if bounds := self.time_range():
            match["started_at"] = bounds
        for name in ("channel", "outcome"):
            if data.get(name):
                match[name] = data[name]
        if data.get("end_reason"):
            reasons = end_reasons_meaning(data["end_reason"])
            match["end_reason"] = reasons[0] if len(reasons) == 1 else {"$in": reasons}
        elif data.get("outcome"):
            # The calls with an outcome, as the dashboard counts them: not a record opened
            # again on another server, which keeps one but is no call of its own.
            match.update(NOT_A_CALL_MATCH)
        if data.get("customer"):
            ids = data["customer"]
            match["user_id"] = ids[0] if len(ids) == 1 else {"$in": ids}
        return match


def new_request_key() -> str:
    """A goodwill form's one-time key (GoodwillForm.request_key)."""
    return secrets.token_urlsafe(24)


class GoodwillForm(forms.Form):
    """A goodwill credit or a manual refund for one customer. `request_key` is drawn when the
    form is shown: submitting the same form twice is one request (support/goodwill.py)."""

    kind = forms.ChoiceField(label="What", widget=forms.RadioSelect, initial="credit",
                             choices=[("credit", "Goodwill credit to the wallet"),
                                      ("refund", "Manual refund of an order")])  # fmt: skip
    order_id = forms.ChoiceField(label="Order", required=False)
    amount = RupeesField(label="Amount (₹)", widget=forms.TextInput(attrs={"maxlength": 20,
                                                                       "inputmode": "decimal"}))
    reason = forms.CharField(label="Why", max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, orders: list[Any], *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("request_key", new_request_key())
        super().__init__(*args, **kwargs)
        order_id = self.fields["order_id"]
        assert isinstance(order_id, forms.ChoiceField)  # declared above
        order_id.choices = [("", "— for a refund, choose the order —")] + [
            (o.order_id, f"{o.order_id} · {o.restaurant} · {format_inr(o.amount)}")
            for o in orders
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("kind") == "refund" and not cleaned.get("order_id"):
            self.add_error("order_id", "Choose the order to refund.")
        if cleaned.get("kind") == "credit":
            cleaned["order_id"] = None
        return cleaned
