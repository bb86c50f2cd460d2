"""The back office in the Django admin: the support collections, the refund tiers, actions.

Big collections (orders, calls, refunds, complaints, tickets) stay fast: no full counts
(`show_full_result_count = False` and a paginator that stops counting at a cap), plain lists
read newest first by time range, no joins on change lists (the customer shows as its
`user_id`; searching orders by customer name or phone looks the customers up first), and the
voice bot's data (items, refunds, transcripts, tool calls) is read-only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from postcall.outcome import MOVED_END_REASONS, NOT_A_CALL_MATCH
from support import complaints, escalations
from support.customers import MAX_USER_ID
from support.importer.parsing import normalize_phone
from support.models import (
    DELIVERED_STATUSES,
    Call,
    Complaint,
    ComplaintStatus,
    Customer,
    Escalation,
    EscalationStatus,
    Goodwill,
    GoodwillPolicy,
    Order,
    OrderStatus,
    Refund,
    RefundTier,
)
from support.money import format_inr
from support.mongo import sync_db
from support.staff import team  # noqa: F401  (registers the team's user pages)
from support.staff.access import VIEW_CUSTOMERS
from support.staff.aftercall import AfterCall, after_call
from support.staff.calls import CallDetail, call_detail
from support.staff.forms import CONTACT_SEARCH_REFUSED, AssignForm, RupeesField, customer_term
from support.staff.labels import (
    END_REASON_LABELS,
    OUTCOME_LABELS,
    choice_label,
    duration_s,
    end_reason_label,
    end_reasons_meaning,
    in_a_sentence,
    local_time,
    mmss,
    outcome_label,
    usage_rows,
    waited,
)
from support.staff.people import staff_names, with_people
from support.staff.queries import newest_first
from support.staff.search import MAX_TERM, find_customers, id_spellings
from support.templatetags.staff import person
from voiceproject.cache import cache_or_miss


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: past that, "10,000+" is all a person needs to know."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        assert isinstance(self.object_list, QuerySet)  # the admin paginates querysets
        # Unordered: the count needs no $sort (which would order every matching row).
        return self.object_list.order_by()[: self.CAP].count()


class NewestFirstPaginator(CappedCountPaginator):
    """A big list, newest first, unfiltered or filtered by one of its `filters()` only (by
    default `filter_field`), without reading every row: the page's ids come from
    `queries.newest_first` (an index range scan over a recent range of `time_field`, widened
    until it holds the page; SecantusDB would otherwise fetch and sort every row for "the
    newest 50", minutes at 200,000 orders), then the rows from the ORM by `_id`, with the
    list's deferred fields left out.

    The count is capped like the parent's and cached for a few minutes: SecantusDB answers
    even `estimatedDocumentCount` by reading the collection (seconds at 200,000 orders), and
    "10,000+" does not go stale in five minutes. A smaller count does: rows that arrive
    meanwhile push the oldest past it. So a page is read whole whatever the count says, with
    one row more, and a last page that finds more after it forgets the count.
    """

    model: type[Any]
    time_field: str
    filter_field: str
    COUNT_CACHE_S = 300

    @classmethod
    def filter_parameter(cls) -> str:
        """The query parameter of the list's filter on `filter_field`."""
        return f"{cls.filter_field}__exact"

    @classmethod
    def filters(cls) -> dict[str, Callable[[str], dict[str, Any]]]:
        """The list's filters read by time range, each when it is the only one: its query
        parameter, and the rows a value of it selects (a MongoDB match, the same rows as the
        admin's filter)."""
        return {cls.filter_parameter(): lambda value: {cls.filter_field: value}}

    def __init__(self, object_list: Any, per_page: int, orphans: int = 0,
                 allow_empty_first_page: bool = True, *, by: tuple[str, str] | None = None,
                 defer: tuple[str, ...] = ()) -> None:  # fmt: skip
        """`by`: the filter chosen (a query parameter of `filters()`) and its value; None for
        the plain list."""
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.by = by
        self.match: dict[str, Any] = {} if by is None else self.filters()[by[0]](by[1])
        self.defer = defer

    @property
    def _count_key(self) -> str:
        chosen = "*" if self.by is None else "=".join(self.by)
        return f"staff:{self.model._meta.db_table}:count:{chosen}"

    @cached_property
    def count(self) -> int:
        total = cache_or_miss.get(self._count_key)
        if total is None:
            rows = sync_db()[self.model._meta.db_table]
            total = (rows.count_documents(self.match, limit=self.CAP) if self.match
                     else rows.estimated_document_count())  # fmt: skip
            cache_or_miss.set(self._count_key, int(total), self.COUNT_CACHE_S)
        return min(int(total), self.CAP)

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        docs = self.newest(bottom, bottom + self.per_page + 1)
        if len(docs) > self.per_page and number >= self.num_pages and self.count < self.CAP:
            self._count_passed(bottom + len(docs))
        ids = [doc["_id"] for doc in docs[: self.per_page]]
        by_id = {row.pk: row for row in self.model.objects.filter(pk__in=ids).defer(*self.defer)}
        # _get_page is Paginator's documented hook for building a page; django-stubs omits it.
        return self._get_page([by_id[i] for i in ids if i in by_id], number, self)  # type: ignore[attr-defined]

    def newest(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The `_id`s of rows `start:stop` of the list, newest first."""
        return newest_first(sync_db()[self.model._meta.db_table], self.match, self.time_field,
                            {"_id": 1}, start, stop)  # fmt: skip

    def _count_passed(self, seen: int) -> None:
        """The cached count ends before rows this page saw (`seen` at least): rows arrived
        since it was counted. The next request counts again; this page links to the next."""
        cache_or_miss.delete(self._count_key)
        self.__dict__["count"] = min(seen, self.CAP)
        self.__dict__.pop("num_pages", None)  # cached_property: worked out again from count


class NewestOrdersPaginator(NewestFirstPaginator):
    model = Order
    time_field = "placed_at"
    filter_field = "status"


class NewestCallsPaginator(NewestFirstPaginator):
    model = Call
    time_field = "started_at"
    filter_field = "channel"

    @classmethod
    def filters(cls) -> dict[str, Callable[[str], dict[str, Any]]]:
        # By outcome too: the list a lead opens to see how calls went (OutcomeFilter).
        return {**super().filters(), OutcomeFilter.parameter_name: OutcomeFilter.match}

    def newest(self, start: int, stop: int) -> list[dict[str, Any]]:
        if self.by is None or self.by[0] != OutcomeFilter.parameter_name:
            return super().newest(start, stop)
        # SecantusDB reads every call for a match with a negation in it (the records opened
        # again elsewhere, OutcomeFilter.match), and through `calls_outcome_recent` for the
        # outcome alone: read so, those records (few: nothing happened on them) are dropped
        # here, reading on for as many as were dropped.
        calls, by_outcome = sync_db()[Call._meta.db_table], {"outcome": self.by[1]}
        wanted = stop
        while True:
            docs = newest_first(calls, by_outcome, self.time_field,
                                {"_id": 1, "end_reason": 1}, 0, wanted)  # fmt: skip
            calls_lived = [doc for doc in docs if doc.get("end_reason") not in MOVED_END_REASONS]
            if len(calls_lived) >= stop or len(docs) < wanted:
                return calls_lived[start:stop]
            wanted += stop - len(calls_lived)


# Refunds, complaints and tickets grow with the calls (a complaint list of 30,000 took five
# seconds a page, sorted whole).
class NewestRefundsPaginator(NewestFirstPaginator):
    model = Refund
    time_field = "created_at"
    filter_field = "tier"

    @classmethod
    def filter_parameter(cls) -> str:
        return TierFilter.parameter_name


class NewestComplaintsPaginator(NewestFirstPaginator):
    model = Complaint
    time_field = "created_at"
    filter_field = "status"


class NewestTicketsPaginator(NewestFirstPaginator):
    model = Escalation
    time_field = "created_at"
    filter_field = "status"


def staff_link(view: str, key: str | None, text: str | None = None) -> str:
    """A link to the staff page `view` of `key`, reading `text` (else the key); a dash
    without a key."""
    if not key:
        return admin.site.empty_value_display
    return format_html('<a href="{}">{}</a>', reverse(view, args=[key]), text or key)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


class PeopleChangeList(ChangeList):
    """A change list whose rows know their customer (name and phone), found in one query for
    the page, and whether the reader may see their contact details (`contacts_shown`), and
    which reads only the fields the list shows (`list_defer`)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        with _lookups_the_database_cannot_run():  # the search reads the database already
            queryset = super().get_queryset(request, exclude_parameters)
        defer = getattr(self.model_admin, "list_defer", ())
        return queryset.defer(*defer) if defer else queryset

    def get_results(self, request: HttpRequest) -> None:
        with _lookups_the_database_cannot_run():
            super().get_results(request)
            with_people(list(self.result_list))
            shown = may_see_contacts(request)
            for row in self.result_list:
                row.contacts_shown = shown
            if getattr(self.model_admin, "names_staff", False):
                names = staff_names()  # one query for the page
                for row in self.result_list:
                    row.staff_names = names
            if isinstance(self.model_admin, BigCollectionAdmin):
                self.model_admin.read_for_page(list(self.result_list))


def may_see_contacts(request: HttpRequest) -> bool:
    """Whether the reader may see a customer's phone and open their page, as on the staff
    pages (support/templatetags/staff.py customer_as_allowed): a name is what reading a call
    or working a ticket needs, the customer's contact details are not."""
    # django-stubs misses auth installed as MongoAuthConfig (see pyproject.toml).
    return bool(request.user.has_perm(VIEW_CUSTOMERS))  # type: ignore[union-attr]


@contextmanager
def _lookups_the_database_cannot_run() -> Iterator[None]:
    """A number past the database's 8-byte integers (?customer_id= or ?customer= edited by
    hand) is a lookup that cannot be run, which the admin answers as it answers any other: back
    to the list with ?e=1. Django's own range check does not cover a foreign key's lookups."""
    try:
        yield
    except OverflowError as error:
        raise IncorrectLookupParameters(error) from error


# The longest search looked for within text (a complaint's description): longer is no phrase
# anyone searches for, and as a pattern (each character escaped in at most two) would pass the
# 1,000 characters the embedded SecantusDB allows one (the list answered 500).
LONGEST_PHRASE = 200


class BigCollectionAdmin(admin.ModelAdmin):
    show_full_result_count = False
    # No "Show counts" beside the filters: a count per filter choice reads every row for each
    # (the calls list at 10,000 calls ran past the page's database time, a 503).
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 50
    list_defer: tuple[str, ...] = ()
    # A search term that is no id also finds the rows of the customers it names (a name or a
    # phone as people say it, support/staff/search.py).
    search_customers = False
    # Whether the list names colleagues (`colleague`): their names are then read once a page.
    names_staff = False
    # How the list is read newest first, by time range, when it is shown plain or filtered by
    # one of the paginator's `filters()` alone (None: always the capped paginator).
    newest_first: type[NewestFirstPaginator] | None = None

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return PeopleChangeList

    def read_for_page(self, rows: list[Any]) -> None:
        """Read what the list's `rows` show beyond their own fields, once for the page, and
        set it on them (none here)."""

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:
        # Only the plain list, or one filtered by one value of one of those filters alone (no
        # search, other filter or other column order), is read by time range: anything else
        # keeps the capped one. A filter given twice (?status__exact=open&status__exact=claimed,
        # by hand) selects either value, as the admin's queryset does, not the last alone.
        if self.newest_first is not None:
            chosen = set(request.GET) - {PAGE_VAR}
            once = all(len(request.GET.getlist(name)) == 1 for name in chosen)
            if len(chosen) <= 1 and once and chosen <= self.newest_first.filters().keys():
                by = next(((name, request.GET[name]) for name in chosen), None)
                if by is not None and not by[1] and by[0] in self._simple_filters():
                    by = None  # a SimpleListFilter chosen empty filters nothing (?outcome=)
                return self.newest_first(queryset, per_page, orphans, allow_empty_first_page,
                                         by=by, defer=self.list_defer)  # fmt: skip
        return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)

    def _simple_filters(self) -> set[str]:
        """The query parameters of the list's SimpleListFilters."""
        simple = (f for f in self.list_filter
                  if isinstance(f, type) and issubclass(f, admin.SimpleListFilter))  # fmt: skip
        return {str(f.parameter_name) for f in simple}

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Search fields named "=field" hold ids (or usernames): looked up exactly, in the
        spellings people type, through their index (Django's own "=" is a case-insensitive
        regex, which reads every document: seconds on a big collection). The other fields (a
        complaint's description) are searched only when no id matches."""
        term = search_term.strip()
        fields = self.get_search_fields(request)
        exact = [name[1:] for name in fields if name.startswith("=")]
        if not term or not exact:
            return super().get_search_results(request, queryset, search_term)
        spellings = id_spellings(term)
        ids = Q()
        for name in exact:
            ids |= Q(**{f"{name}__in": spellings})
        found = queryset.filter(ids)
        words = [name for name in fields if not name.startswith(("=", "^", "@"))]
        if words and len(term) > LONGEST_PHRASE:
            texts = ", ".join(str(self.model._meta.get_field(name).verbose_name) for name in words)
            self.message_user(request, f"Only a search of at most {LONGEST_PHRASE} characters "
                                       f"looks in the {texts}.", messages.WARNING)  # fmt: skip
            words = []
        if (words or self.search_customers) and not found.exists():
            others = Q()
            for name in words:
                others |= Q(**{f"{name}__icontains": term})
            if self.search_customers:
                # As on the staff pages: the rows found would say whose a phone or email is.
                searched = customer_term(term, may_see_contacts=may_see_contacts(request))
                if searched is None:
                    self.message_user(request, CONTACT_SEARCH_REFUSED, messages.WARNING)
                else:
                    people = customers_searched(request, self, searched)
                    others |= Q(customer_id__in=people)
            found = queryset.filter(others) if others else found  # nothing else to look for
        return found, False

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:  # a change page: its `who` says as much as the list's
            obj.contacts_shown = may_see_contacts(request)
        return obj

    @admin.display(description="customer", ordering="customer_id")
    def who(self, obj: Any) -> str:
        """The customer by name, with their phone and a link to their page for readers who
        may see customers (`contacts_shown`); their name alone for the others."""
        if not hasattr(obj, "person"):  # a change page: one row, one lookup
            with_people([obj])
        if getattr(obj, "contacts_shown", False) or obj.person is None:
            return person(obj.person, obj.customer_id)
        return str(obj.person.name)

    def colleague(self, obj: Any, username: str | None) -> str:
        """A staff username on `obj` as the staff pages name them, with the username (which
        the search box finds): "Meera Nair (meera)"; someone no longer on the team, or with
        no name, by their username."""
        if not username:
            return self.get_empty_value_display()
        names = getattr(obj, "staff_names", None)
        name = (staff_names() if names is None else names).get(username, username)
        return username if name == username else f"{name} ({username})"


class ReadOnlyAdmin(admin.ModelAdmin):
    """A collection of records of what happened (money paid, calls, an audit): staff look them
    up, and nobody adds, edits or deletes one here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Customers and orders -----------------------------------------------------------------


class CustomerForm(forms.ModelForm):
    """A customer as the voice path finds them: a phone call is matched on the exact number
    Twilio sends (E.164), so the number is stored that way and belongs to one customer."""

    phone = forms.CharField(max_length=32, help_text="With its country code: +91 98123 45678")
    user_id = forms.IntegerField(min_value=1, max_value=MAX_USER_ID)

    class Meta:
        model = Customer
        fields = ("user_id", "name", "phone", "email")

    def clean_phone(self) -> str:
        phone = normalize_phone(self.cleaned_data["phone"])
        if phone is None:
            raise ValidationError("Enter the number with its country code, like +919812345678: "
                                  "calls are matched on it.")
        owner = Customer.objects.filter(phone=phone).exclude(pk=self.instance.pk).first()
        if owner is not None:
            raise ValidationError(f"{phone} is {owner.name}'s (#{owner.user_id}).")
        return phone


# Customers a search lists (or lists the orders of), at most: SecantusDB slows on a long $in
# list, and the list reads one for its count and another for its page (at 500, a second).
CUSTOMER_SEARCH_LIMIT = 100


def customers_searched(request: HttpRequest, admin_: admin.ModelAdmin, term: str) -> list[int]:
    """The user ids of the customers `term` finds, as the staff pages find them, at most
    CUSTOMER_SEARCH_LIMIT of them; when more match, the list says it holds only some (its
    count would otherwise read as all there are)."""
    found = find_customers(term, limit=CUSTOMER_SEARCH_LIMIT + 1)
    if len(found) > CUSTOMER_SEARCH_LIMIT:
        rows = admin_.model._meta.verbose_name_plural
        listed = "" if admin_.model is Customer else f"the {rows} of "
        admin_.message_user(
            request, f"More than {CUSTOMER_SEARCH_LIMIT} customers match “{term.strip()[:MAX_TERM]}"
            f"”: only {listed}{CUSTOMER_SEARCH_LIMIT} of them are listed. Add more of the name, "
            "or use a phone number, email or user id.", messages.WARNING)  # fmt: skip
    return [customer.user_id for customer in found[:CUSTOMER_SEARCH_LIMIT]]


@admin.register(Customer)
class CustomerAdmin(BigCollectionAdmin):
    form = CustomerForm
    list_display = ("user_id_", "name", "phone", "email", "wallet", "created_at")
    search_fields = ("name",)  # see get_search_results: as the staff pages' search box
    search_help_text = "Name, phone (any spacing, with or without +91), email or user id."
    list_filter = (("created_at", admin.DateFieldListFilter),)
    readonly_fields = ("wallet", "created_at", "orders_link")
    exclude = ("wallet_balance",)

    @admin.display(description="user id", ordering="user_id")
    def user_id_(self, obj: Customer) -> int:
        return obj.user_id

    @admin.display(description="wallet", ordering="wallet_balance")
    def wallet(self, obj: Customer) -> str:
        return format_inr(obj.wallet_balance)

    @admin.display(description="orders")
    def orders_link(self, obj: Customer) -> str:
        url = reverse("admin:support_order_changelist") + f"?customer_id={obj.user_id}"
        return format_html('<a href="{}">orders of {}</a>', url, obj.name)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Customer], search_term: str
    ) -> tuple[QuerySet[Customer], bool]:
        # find_customers reads each kind of term through an index (a regex over every name,
        # phone and email would read the whole collection) and finds "98000 00202" too.
        if not search_term.strip():
            return queryset, False
        return queryset.filter(user_id__in=customers_searched(request, self, search_term)), False

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        """A customer with any record (orders, refunds, calls, tickets, ...) is protected: those
        name their customer by user_id only (no cascade), and would point at nobody, or at
        whoever is given that user_id next. One with none (a mistake) can be deleted."""
        to_delete, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        customers = {customer.user_id: customer for customer in objs}
        held: dict[int, list[str]] = {}
        for relation in Customer._meta.related_objects:
            model = relation.related_model
            assert not isinstance(model, str)  # resolved once the apps are loaded
            rows = model._default_manager.filter(
                **{f"{relation.field.name}__in": list(customers)}
            ).values_list(relation.field.attname, flat=True)
            for user_id, n in Counter(rows).items():
                noun = model._meta
                held.setdefault(user_id, []).append(
                    f"{n} {noun.verbose_name if n == 1 else noun.verbose_name_plural}"
                )
        for user_id, records in sorted(held.items()):
            protected.append(f"{customers[user_id]}: {', '.join(records)}")
        return to_delete, counts, perms_needed, protected

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The bot and the orders refer to customers by user_id: it never changes.
        return (*self.readonly_fields, "user_id") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        # Only the fields edited: a whole-document save would write back the wallet balance
        # read with the form, over a refund or goodwill credit ($inc) made meanwhile.
        if change:
            obj.save(update_fields=form.changed_data)
        else:
            obj.save()


class OrderForm(forms.ModelForm):
    """An order's status and delivery time as the refund tool reads them: a delivered (or
    refunded) order has a delivery time, no other has one, and "refunded" goes with a refund."""

    class Meta:
        model = Order
        fields = ("restaurant", "status", "delivered_at")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # BaseModelForm.clean() returns cleaned_data
        status, delivered_at = cleaned.get("status"), cleaned.get("delivered_at")
        if status is None or "delivered_at" in self.errors:
            return cleaned
        refund = self.instance.refund
        if refund is not None and status != OrderStatus.REFUNDED:
            self.add_error("status", f"This order was refunded ({refund.refund_id}): it stays "
                                     "refunded, so that it is never refunded twice.")
        if refund is None and status == OrderStatus.REFUNDED:
            # A status alone pays nothing, and the refund tool would then refuse the customer.
            self.add_error("status", "An order becomes refunded with its refund: make a manual "
                                     "refund from the customer's page instead.")
        what = in_a_sentence(choice_label(OrderStatus, status))  # "out for delivery"
        if status in DELIVERED_STATUSES and delivered_at is None:
            self.add_error("delivered_at", f"An order that is {what} needs its delivery time.")
        elif status not in DELIVERED_STATUSES and delivered_at is not None:
            self.add_error("delivered_at", f"An order that is {what} has not been delivered: "
                                           "leave the delivery time empty.")
        elif delivered_at is not None and delivered_at < self.instance.placed_at:
            self.add_error("delivered_at", "The delivery time is before the order was placed.")
        elif delivered_at is not None and delivered_at > timezone.now():
            # The refund window runs from delivery: a future time would keep it open.
            self.add_error("delivered_at", "The delivery time is in the future.")
        return cleaned


class ConditionalSaveAdmin(admin.ModelAdmin):
    """A change page whose `save_model` writes only over the record its form was checked
    against, and sets `obj.not_saved` when the record changed meanwhile: then nothing is
    logged, and the page opens again as the record now is, saying why (`not_saved_message`)."""

    def not_saved_message(self, obj: Any) -> str:
        raise NotImplementedError

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(obj, "not_saved", False):
            return None  # nothing changed: the history says nothing either
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if getattr(obj, "not_saved", False):
            self.message_user(request, self.not_saved_message(obj), messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


@admin.register(Order)
class OrderAdmin(ConditionalSaveAdmin, BigCollectionAdmin):
    form = OrderForm
    newest_first = NewestOrdersPaginator
    list_display = ("order_id", "who", "restaurant", "total", "status", "placed_at", "refund_")
    list_filter = ("status", ("placed_at", admin.DateFieldListFilter))
    # An order id exactly (any id the importer accepts), else the orders of the customers a
    # name or phone finds (customers first, a small collection; then orders by user_id).
    search_fields = ("=order_id",)
    search_customers = True
    search_help_text = "Order id (ORD-1001), customer name or phone."
    fields = ("order_id", "who", "restaurant", "status", "placed_at", "delivered_at",
              "items_", "total", "refund_")
    readonly_fields = ("order_id", "who", "placed_at", "items_", "total", "refund_")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from the ordering system (load_support_data), not staff

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nor do they go: a deleted order would lower its customer's lifetime spend (their
        # refund tier) and orphan its refund. A cancelled order is marked so.
        return False

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        """Write the edited fields alone, and only over the refund the form was checked
        against: a whole-document save would write back `refund: null` and the status read
        with the form over a refund made meanwhile (the refund tool's own update is
        conditional), leaving paid money on an order that says it was never refunded."""
        edited = {name: getattr(obj, name) for name in form.changed_data}
        rows = Order.objects.filter(pk=obj.pk)
        if obj.refund is None:
            rows = rows.filter(refund__isnull=True)
        if edited and not rows.update(**edited):
            obj.not_saved = True  # type: ignore[attr-defined]  # response_change says so

    def not_saved_message(self, obj: Order) -> str:
        return (f"{obj.order_id} was refunded meanwhile, so nothing was changed: here it is as "
                "it is now.")

    @admin.display(description="amount", ordering="amount")
    def total(self, obj: Order) -> str:
        return format_inr(obj.amount)

    @admin.display(description="items")
    def items_(self, obj: Order) -> str:
        return format_html_join("", "<div>{}</div>", ((str(item),) for item in obj.items)) or "—"

    @admin.display(description="refund")
    def refund_(self, obj: Order) -> str:
        if obj.refund is None:
            return "—"
        query = urlencode({"order_id": obj.order_id})
        url = reverse("admin:support_refund_changelist") + "?" + query
        return format_html('<a href="{}">{}</a>', url, str(obj.refund))


class TierFilter(admin.SimpleListFilter):
    """Refunds by tier, offering the tiers there are now (the default filter for a field
    without choices lists the distinct tiers of every refund first: a read of them all)."""

    title = "tier"
    parameter_name = "tier"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = RefundTier.objects.order_by("-min_lifetime_spend").values_list("name", flat=True)
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        return queryset.filter(tier=self.value()) if self.value() else queryset


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin, BigCollectionAdmin):
    """Refunds are records of money paid: nobody edits or deletes them here."""

    list_display = ("refund_id", "order_link", "who", "total", "percent_", "tier", "created_at")
    list_filter = (TierFilter, ("created_at", admin.DateFieldListFilter))
    newest_first = NewestRefundsPaginator
    search_fields = ("=refund_id", "=order_id")
    search_help_text = "Refund id or order id, exactly."
    # The page of one refund: rupees and the customer's name, never "26850" paise.
    fields = ("refund_id", "order_link", "who", "total", "percent_", "tier", "reason", "call",
              "created_at")
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def total(self, obj: Refund) -> str:
        return format_inr(obj.amount)

    @admin.display(description="percent", ordering="percent")
    def percent_(self, obj: Refund) -> str:
        return f"{obj.percent}%"

    @admin.display(description="call")
    def call(self, obj: Refund) -> str:
        return staff_link("staff:call", obj.call_id, "the call it was made in")

    @admin.display(description="order", ordering="order_id")
    def order_link(self, obj: Refund) -> str:
        url = reverse("admin:support_order_changelist") + "?" + urlencode({"q": obj.order_id})
        return format_html('<a href="{}">{}</a>', url, obj.order_id)


# --- Complaints and escalations -------------------------------------------------------------


def report(request: HttpRequest, admin_: admin.ModelAdmin, done: int, verb: str) -> None:
    noun = admin_.model._meta.verbose_name if done == 1 else admin_.model._meta.verbose_name_plural
    admin_.message_user(request, f"{done} {noun} {verb}.", messages.SUCCESS)


class ComplaintForm(forms.ModelForm):
    """A complaint's category and status, the status compared with the one the page showed
    (`status_seen`, carried by the page): not with the one stored now, which a colleague may
    have changed meanwhile (with an action), so that the change of status is this edit's own."""

    status_seen = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Complaint
        fields = ("category", "status")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seen = self.instance.status
        if self.is_bound:  # what the page showed (a page without the field: the stored one)
            seen = self.data.get("status_seen") or seen
        self.seen_status: str = seen
        self.initial["status_seen"] = seen
        self.initial["status"] = seen  # changed_data: status is changed only if the page's was


@admin.register(Complaint)
class ComplaintAdmin(ConditionalSaveAdmin, BigCollectionAdmin):
    list_display = ("complaint_id", "category", "status", "who", "order_id", "created_at",
                    "summary")
    list_filter = ("status", "category", ("created_at", admin.DateFieldListFilter))
    newest_first = NewestComplaintsPaginator
    search_fields = ("=complaint_id", "=order_id", "description")
    readonly_fields = ("complaint_id", "who", "order_id", "description", "call", "created_at")
    form = ComplaintForm
    fields = ("complaint_id", "who", "order_id", "category", "status", "description", "call",
              "created_at", "status_seen")
    actions = ("resolve_selected", "review_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # complaints are filed by customers through the agent

    def save_model(self, request: HttpRequest, obj: Complaint, form: Any, change: bool) -> None:
        """Write the fields edited alone (a whole-document save would write back the status
        read with the form over a colleague's resolution made meanwhile), and a new status only
        over the one the page showed."""
        edited = {name: getattr(obj, name) for name in form.changed_data if name != "status_seen"}
        rows = Complaint.objects.filter(pk=obj.pk)
        if "status" in edited:
            rows = rows.filter(status=form.seen_status)
        if edited and not rows.update(**edited):
            obj.not_saved = True  # type: ignore[attr-defined]  # response_change says so

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        if self.has_change_permission(request, obj):
            return fields
        return [name for name in fields if name != "status_seen"]  # no form: nothing to carry

    def not_saved_message(self, obj: Complaint) -> str:
        now = Complaint.objects.filter(pk=obj.pk).values_list("status", flat=True).first()
        return (f"Someone changed the status of {obj.complaint_id} meanwhile (it is "
                f"{choice_label(ComplaintStatus, now).lower()} now), so nothing was saved: "
                "here it is as it is now.")

    @admin.display(description="call")
    def call(self, obj: Complaint) -> str:
        return staff_link("staff:call", obj.call_id, "the call it was filed in")

    @admin.display(description="description")
    def summary(self, obj: Complaint) -> str:
        return obj.description if len(obj.description) <= 80 else obj.description[:77] + "…"

    @admin.action(description="Resolve selected complaints", permissions=["change"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> None:
        ids = list(queryset.values_list("complaint_id", flat=True))
        report(request, self, complaints.resolve_complaints(ids), "resolved")

    @admin.action(description="Mark selected complaints in review", permissions=["change"])
    def review_selected(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> None:
        ids = list(queryset.values_list("complaint_id", flat=True))
        report(request, self, complaints.review_complaints(ids), "marked in review")


@admin.register(Escalation)
class EscalationAdmin(BigCollectionAdmin):
    list_display = ("ticket_id", "priority", "status", "assignee_", "time",
                    "who", "order_id", "created_at", "page")
    names_staff = True
    list_filter = ("status", "priority", ("created_at", admin.DateFieldListFilter))
    newest_first = NewestTicketsPaginator
    search_fields = ("=ticket_id", "=order_id", "=assignee")
    search_help_text = "Ticket id, order id or assignee's username, exactly."
    # Status, assignee and notes change only through the domain functions (atomic, one winner).
    fields = ("ticket_id", "who", "order_id", "priority", "status", "assignee_", "reason_",
              "call", "created_at", "resolved_at", "notes_", "page")
    readonly_fields = ("ticket_id", "who", "order_id", "status", "assignee_", "reason_",
                       "call", "created_at", "resolved_at", "notes_", "page")
    actions = ("claim_selected", "assign_selected", "resolve_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tickets are opened by the agent's escalate_to_human tool

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nor do they go: callbacks booked for a ticket and a call waiting on its warm
        # escalation name it by ticket_id, and would point at nothing. A ticket is resolved.
        return False

    def save_model(self, request: HttpRequest, obj: Escalation, form: Any, change: bool) -> None:
        # Priority is all this form edits: set it alone (a whole-document save would write
        # back the status and assignee it read, over a claim made meanwhile), and tell the
        # live queue pages, as every other change of a ticket does.
        if "priority" not in form.changed_data:
            return
        try:
            escalations.set_priority(obj.ticket_id, obj.priority)
        except escalations.TicketError as error:
            self.message_user(request, error.message, messages.ERROR)

    @admin.display(description="assignee", ordering="assignee")
    def assignee_(self, obj: Escalation) -> str:
        return self.colleague(obj, obj.assignee)

    @admin.display(description="reason")
    def reason_(self, obj: Escalation) -> str:
        # As the queue and ticket pages say it: an old ticket's failure code in words.
        return escalations.reason_in_words(obj.reason)

    # How long an open ticket has waited, a claimed one been open, or a resolved one took,
    # said as which. One column, not two: the list fits a laptop with the admin's menu open.
    @admin.display(description="time", ordering="-created_at")
    def time(self, obj: Escalation) -> str:
        """The ticket's age in the queue's words (templates/staff/_queue_rows.html, and the
        ticket page's): "Waiting 3 hours" for an open ticket, "Open for 3 hours" for a claimed
        one (someone works on it: nobody waits for them), "Took 20 minutes" for a resolved
        one."""
        if obj.resolved_at is not None:
            return f"Took {waited(obj.created_at, obj.resolved_at)}"
        if obj.status == EscalationStatus.RESOLVED:
            return "Resolved"
        if obj.status == EscalationStatus.OPEN:
            return f"Waiting {waited(obj.created_at)}"
        return f"Open for {waited(obj.created_at)}"

    @admin.display(description="call")
    def call(self, obj: Escalation) -> str:
        return staff_link("staff:call", obj.call_id, "the call it was raised in")

    @admin.display(description="staff page")
    def page(self, obj: Escalation) -> str:
        return staff_link("staff:ticket", obj.ticket_id, "open")

    @admin.display(description="notes")
    def notes_(self, obj: Escalation) -> str:
        obj.staff_names = staff_names()  # type: ignore[attr-defined]  # one query, every note
        rows = ((self.colleague(obj, n.author), local_time(n.at), n.text) for n in obj.notes)
        return format_html_join("", "<p><b>{}</b> ({}): {}</p>", rows) or "—"

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Escalation], change: Callable[[str], Any]
    ) -> None:
        """Apply `change` to each ticket; report successes and, one by one, refusals."""
        done = 0
        for ticket_id in queryset.values_list("ticket_id", flat=True):
            try:
                change(ticket_id)
            except escalations.TicketError as error:
                self.message_user(request, error.message, messages.WARNING)
            else:
                done += 1
        report(request, self, done, "updated")

    @admin.action(description="Claim selected tickets (assign to me)", permissions=["change"])
    def claim_selected(self, request: HttpRequest, queryset: QuerySet[Escalation]) -> None:
        me = request.user.get_username()
        self._each(request, queryset, lambda t: escalations.claim(t, me))

    @admin.action(description="Reassign selected tickets…", permissions=["change"])
    def assign_selected(
        self, request: HttpRequest, queryset: QuerySet[Escalation]
    ) -> HttpResponse | None:
        form = AssignForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            who, me = form.cleaned_data["assignee"], request.user.get_username()
            self._each(request, queryset, lambda t: escalations.assign(t, who, by=me))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reassign tickets",
            "opts": self.model._meta,
            "form": form,
            "tickets": queryset,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/support/escalation/assign.html", context)

    @admin.action(description="Resolve selected tickets", permissions=["change"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Escalation]) -> None:
        me = request.user.get_username()
        self._each(request, queryset.exclude(status=EscalationStatus.RESOLVED),
                   lambda t: escalations.resolve(t, me))


# --- Calls --------------------------------------------------------------------------------


class EndReasonFilter(admin.SimpleListFilter):
    """How calls ended, by label. (The default filter for a field without choices lists the
    distinct values of every call first: a read of the whole collection per page.)"""

    title = "ended"
    parameter_name = "end_reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(END_REASON_LABELS.items(), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        # A label stands for its older spellings too ("Caller hung up": customer_hung_up).
        reason = self.value()
        return queryset.filter(end_reason__in=end_reasons_meaning(reason)) if reason else queryset


class OutcomeFilter(admin.SimpleListFilter):
    """What calls achieved (contract section 10), by label. Under an outcome, the calls the
    dashboard and the staff call list count (support/staff/forms.py, CallFilterForm.match):
    not a record opened again on another server (MOVED_END_REASONS), which keeps an outcome
    but is no call of its own, unless the "ended" filter asks for such records."""

    title = "outcome"
    parameter_name = "outcome"

    @staticmethod
    def match(outcome: str) -> dict[str, Any]:
        """The calls under `outcome` as a MongoDB match (NewestCallsPaginator reads the list
        filtered by outcome alone by time range with it): as `queryset` selects them."""
        return {"outcome": outcome, **NOT_A_CALL_MATCH}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(OUTCOME_LABELS.items(), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        outcome = self.value()
        if not outcome:
            return queryset
        calls = queryset.filter(outcome=outcome)
        if request.GET.get(EndReasonFilter.parameter_name):
            return calls
        return calls.exclude(end_reason__in=sorted(MOVED_END_REASONS))


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin, BigCollectionAdmin):
    """Calls are what happened: read-only for everyone."""

    list_display = ("call_id", "started_at", "duration", "who", "channel", "outcome_",
                    "ended_how")  # fmt: skip
    list_filter = ("channel", OutcomeFilter, EndReasonFilter,
                   ("started_at", admin.DateFieldListFilter))  # fmt: skip
    list_defer = ("transcript", "tool_calls", "usage")  # a list never shows them
    newest_first = NewestCallsPaginator
    search_fields = ("=call_id",)
    fields = ("call_id", "who", "channel", "started_at", "ended_at", "duration", "outcome_",
              "ended_how", "summary", "cost", "conversation", "usage_", "page")
    readonly_fields = fields

    @admin.display(description="duration")
    def duration(self, obj: Call) -> str:
        return mmss(duration_s(obj.started_at, obj.ended_at))

    # Not sortable: ordering 10,000 calls by outcome reads and sorts them all (seconds); the
    # filter finds a kind of call newest first.
    @admin.display(description="outcome")
    def outcome_(self, obj: Call) -> str:
        # As the staff call page: none while the call goes on (its end says "In progress").
        if obj.outcome or not obj.ended_at:
            return outcome_label(obj.outcome)
        return "Not recorded"

    @admin.display(description="ended", ordering="end_reason")
    def ended_how(self, obj: Call) -> str:
        return end_reason_label(obj.end_reason) if obj.ended_at else "In progress"

    @admin.display(description="summary")
    def summary(self, obj: Call) -> str:
        # The staff call page's summary, as of now (tickets and callbacks done since).
        after = self._after(obj)
        summary = after.summary if after else None
        if summary is None:
            return "Written when the call ends." if not obj.ended_at else "—"
        return render_to_string("staff/_summary.html", {"summary": summary})

    @admin.display(description="cost")
    def cost(self, obj: Call) -> str:
        after = self._after(obj)
        cost = after.cost if after else None
        if cost is None:
            return "Not priced" if obj.ended_at else "Counted when the call ends"
        parts = format_html_join("", "<div>{}: {}</div>", cost.parts)
        note = format_html('<div class="quiet">{}</div>', cost.note) if cost.note else ""
        return format_html("<div><b>{}</b></div>{}{}", cost.total, parts, note)

    @admin.display(description="conversation")
    def conversation(self, obj: Call) -> str:
        # The staff call page's conversation: speaker turns, a line per tool call, the raw
        # arguments and results behind a disclosure (never a cut-off JSON column).
        detail = self._detail(obj)
        if detail is None:
            return "—"
        caller = detail.row.person.first_name if detail.row.person else ""
        return render_to_string("staff/_conversation.html",
                                {"entries": detail.entries, "caller": caller})  # fmt: skip

    @admin.display(description="model usage")
    def usage_(self, obj: Call) -> str:
        rows = usage_rows(obj.usage)
        return format_html_join("", "<div>{}: {}</div>", rows) or "—"

    @admin.display(description="staff page")
    def page(self, obj: Call) -> str:
        return staff_link("staff:call", obj.call_id, "open")

    def _detail(self, obj: Any) -> CallDetail | None:
        """The whole record as the staff call page reads it, read once for the page."""
        if not hasattr(obj, "detail"):
            obj.detail = call_detail(obj.call_id)
        detail: CallDetail | None = obj.detail
        return detail

    def _after(self, obj: Any) -> AfterCall | None:
        """What the staff call page says after the call (its summary and cost, as of now
        with the tickets it opened and the callbacks it booked), worked out once for the page."""
        if not hasattr(obj, "after"):
            detail = self._detail(obj)
            tickets = Escalation.objects.filter(call_id=obj.call_id).only(
                "ticket_id", "status", "priority", "resolved_at")  # fmt: skip
            obj.after = None if detail is None else after_call(
                detail.record, detail.row.started_at, list(tickets))  # fmt: skip
        after: AfterCall | None = obj.after
        return after


# --- Goodwill ----------------------------------------------------------------------------------


@admin.register(Goodwill)
class GoodwillAdmin(ReadOnlyAdmin, BigCollectionAdmin):
    """Every goodwill credit and manual refund, for review. Requests are made and decided on
    the customer page (support/goodwill.py applies them), never edited here."""

    list_display = ("goodwill_id", "proposed_at", "who", "kind", "total", "status",
                    "proposed_by_", "decided_by_", "reason")
    names_staff = True
    list_filter = ("status", "kind", ("proposed_at", admin.DateFieldListFilter))
    search_fields = ("=goodwill_id", "=order_id", "=proposed_by", "=decided_by")
    fields = ("goodwill_id", "who", "kind", "order_id", "total", "reason", "status",
              "proposed_by_", "proposed_at", "decided_by_", "decided_at", "decision_note",
              "refund_id")
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def total(self, obj: Goodwill) -> str:
        return format_inr(obj.amount)

    @admin.display(description="proposed by", ordering="proposed_by")
    def proposed_by_(self, obj: Goodwill) -> str:
        return self.colleague(obj, obj.proposed_by)

    @admin.display(description="decided by", ordering="decided_by")
    def decided_by_(self, obj: Goodwill) -> str:
        return self.colleague(obj, obj.decided_by)


class GoodwillPolicyForm(forms.ModelForm):
    daily_credit_cap = RupeesField(label="Goodwill credit per customer per day, at most (₹)")

    class Meta:
        model = GoodwillPolicy
        fields = ("daily_credit_cap",)

    def clean_daily_credit_cap(self) -> int:
        cap = self.cleaned_data["daily_credit_cap"]
        if cap is None or cap < 0:
            raise ValidationError("The limit cannot be negative (₹0 turns credits off).")
        return int(cap)


@admin.register(GoodwillPolicy)
class GoodwillPolicyAdmin(admin.ModelAdmin):
    """The one row of goodwill limits: leads change it, nobody adds or deletes one."""

    form = GoodwillPolicyForm
    list_display = ("__str__",)
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Refund tiers -----------------------------------------------------------------------------

TierRow = tuple[str, int, int]  # (name, min_lifetime_spend in paise, percent)


def tier_set_errors(tiers: Iterable[TierRow]) -> list[str]:
    """Why this set of tiers cannot be the refund policy (empty when it can). Pure."""
    tiers = list(tiers)
    errors: list[str] = []
    names: dict[str, str] = {}
    for name, _, _ in tiers:
        key = name.strip().casefold()
        if key in names:
            errors.append(f'Two tiers are named "{name}": tier names must be unique.')
        names[key] = name
    for name, min_spend, percent in tiers:
        if not 0 <= percent <= 100:
            errors.append(f'Tier "{name}": the refund must be between 0 and 100 percent.')
        if min_spend < 0:
            errors.append(f'Tier "{name}": the lifetime spend threshold cannot be negative.')
    by_threshold: dict[int, str] = {}
    for name, min_spend, _ in sorted(tiers, key=lambda tier: tier[1]):
        if min_spend in by_threshold:
            errors.append(
                f'Tiers "{by_threshold[min_spend]}" and "{name}" both start at '
                f"{format_inr(min_spend)}: each tier needs its own threshold."
            )
        by_threshold[min_spend] = name
    if 0 not in by_threshold:
        errors.append("One tier must start at ₹0.00, so that every customer has a tier.")
    return errors


class RefundTierForm(forms.ModelForm):
    min_lifetime_spend = RupeesField(label="Lifetime spend from (₹)")
    percent = forms.IntegerField(label="Refund (%)")

    class Meta:
        model = RefundTier
        fields = ("name", "min_lifetime_spend", "percent")

    def clean(self) -> dict[str, Any]:
        """Check the whole set of tiers as it would be after this save."""
        cleaned = super().clean()
        assert cleaned is not None  # BaseModelForm.clean() returns cleaned_data
        if self.errors:
            return cleaned
        others = RefundTier.objects.exclude(pk=self.instance.pk) if self.instance.pk else (
            RefundTier.objects.all()
        )
        rows = [(t.name, t.min_lifetime_spend, t.percent) for t in others]
        rows.append((cleaned["name"], cleaned["min_lifetime_spend"], cleaned["percent"]))
        errors = tier_set_errors(rows)
        if errors:
            raise ValidationError(errors)
        return cleaned


VIEWED_TIER = ("name", "threshold", "percent_")  # a tier's page for those who only view it


@admin.register(RefundTier)
class RefundTierAdmin(admin.ModelAdmin):
    form = RefundTierForm
    list_display = ("name", "threshold", "percent_")
    ordering = ("-min_lifetime_spend",)
    actions = None  # bulk delete would skip the whole-set check in delete_view

    @admin.display(description="lifetime spend from", ordering="min_lifetime_spend")
    def threshold(self, obj: RefundTier) -> str:
        return format_inr(obj.min_lifetime_spend)

    @admin.display(description="refund", ordering="percent")
    def percent_(self, obj: RefundTier) -> str:
        return f"{obj.percent}%"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A colleague who may only view a tier reads it as the list says it ("₹10,000.00",
        # "100%"), not the form's stored "1000000" paise and a bare "100".
        if obj is not None and not self.has_change_permission(request, obj):
            return VIEWED_TIER
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and not self.has_change_permission(request, obj):
            return VIEWED_TIER
        return super().get_readonly_fields(request, obj)

    def construct_change_message(
        self, request: HttpRequest, form: forms.Form, formsets: Any, add: bool = False
    ) -> Any:
        # The history shows what changed from what, not just which field, as the list says it:
        # "percent: 75% → 80%", "lifetime spend from: ₹5,000.00 → ₹6,000.00".
        if add or not form.changed_data:
            return super().construct_change_message(request, form, formsets, add)
        changes = []
        for field in form.changed_data:
            before, after = form.initial.get(field), form.cleaned_data.get(field)
            if field == "min_lifetime_spend":
                field, before, after = ("lifetime spend from", format_inr(before or 0),
                                        format_inr(after or 0))  # fmt: skip
            elif field == "percent":
                before, after = f"{before}%", f"{after}%"
            changes.append(f"{field}: {before} → {after}")
        return "Changed " + "; ".join(changes) + "."

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        tier = self.get_object(request, object_id)
        if tier is not None and request.method == "POST":
            rest = RefundTier.objects.exclude(pk=tier.pk)
            errors = tier_set_errors((t.name, t.min_lifetime_spend, t.percent) for t in rest)
            if errors:
                for error in errors:
                    message = f"Cannot delete {tier.name}: {error}"
                    self.message_user(request, message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:support_refundtier_changelist"))
        return super().delete_view(request, object_id, extra_context)
