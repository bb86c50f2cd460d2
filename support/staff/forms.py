"""Forms of the staff pages (assign a ticket, add a note, filter calls)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from support.mongo import Document
from support.staff.labels import CHANNEL_LABELS, END_REASON_LABELS, OUTCOME_LABELS
from support.staff.search import find_customers


def staff_usernames() -> list[str]:
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    users = get_user_model().objects.filter(is_active=True, is_staff=True)  # type: ignore[attr-defined]
    return list(users.order_by("username").values_list("username", flat=True))


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label="Assign to")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ChoiceField)  # declared just above
        assignee.choices = [(name, name) for name in staff_usernames()]


class NoteForm(forms.Form):
    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _choices(labels: dict[str, str]) -> list[tuple[str, str]]:
    return [("", "any"), *sorted(labels.items(), key=lambda item: item[1])]


class DayRangeForm(forms.Form):
    """From/to local days (both inclusive); a day that is not a date is an error on its field."""

    since = forms.DateField(required=False, label="From",
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To",
                            widget=forms.DateInput(attrs={"type": "date"}))

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


class CallFilterForm(DayRangeForm):
    """The call list's filters. Invalid filters are errors shown next to their field, and the
    list is not shown at all until they are fixed: a filter is never silently dropped."""

    customer = forms.CharField(required=False, max_length=100,
                               help_text="name, phone, email or user id")
    channel = forms.ChoiceField(required=False, choices=_choices(CHANNEL_LABELS))
    outcome = forms.ChoiceField(required=False, choices=_choices(OUTCOME_LABELS))
    end_reason = forms.ChoiceField(required=False, label="Ended",
                                   choices=_choices(END_REASON_LABELS))

    def clean_customer(self) -> list[int] | None:
        term = self.cleaned_data.get("customer", "").strip()
        if not term:
            return None
        user_ids = [c.user_id for c in find_customers(term)]
        if not user_ids:
            raise ValidationError(f"No customer matches “{term}”.")
        return user_ids

    def match(self) -> Document:
        """The calls the valid filters select, as a MongoDB filter (call is_valid() first)."""
        data = self.cleaned_data if self.is_bound else {}
        match: Document = {}
        if bounds := self.time_range():
            match["started_at"] = bounds
        for name in ("channel", "outcome", "end_reason"):
            if data.get(name):
                match[name] = data[name]
        if data.get("customer"):
            ids = data["customer"]
            match["user_id"] = ids[0] if len(ids) == 1 else {"$in": ids}
        return match
