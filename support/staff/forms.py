"""Forms of the staff pages (assign a ticket, add a note, filter calls)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from support.models import Call, Channel, Customer


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


class CallFilterForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    customer = forms.CharField(required=False, help_text="user id or phone", max_length=20)
    channel = forms.ChoiceField(required=False, choices=[("", "any"), *Channel.choices])
    end_reason = forms.CharField(required=False, max_length=64, label="Outcome")

    def filter(self, calls: QuerySet[Call]) -> QuerySet[Call]:
        """`calls` narrowed by the valid filters (days are local days, `until` inclusive)."""
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("since"):
            calls = calls.filter(started_at__gte=_local_midnight(data["since"]))
        if data.get("until"):
            next_day = data["until"] + dt.timedelta(days=1)
            calls = calls.filter(started_at__lt=_local_midnight(next_day))
        if data.get("channel"):
            calls = calls.filter(channel=data["channel"])
        if data.get("end_reason"):
            calls = calls.filter(end_reason=data["end_reason"].strip())
        customer = (data.get("customer") or "").strip()
        if customer.isdigit() and len(customer) < 10:
            calls = calls.filter(customer_id=int(customer))
        elif customer:
            # A phone number: find the customer first, so no join runs over the calls.
            user_ids = Customer.objects.filter(phone=customer).values_list("user_id", flat=True)
            calls = calls.filter(customer_id__in=list(user_ids))
        return calls
