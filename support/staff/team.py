"""The support team in the admin: superusers see Django's own user pages; leads manage agents.

A support lead holds `auth.add_user`/`change_user` (migration 0006) but Django's stock
UserAdmin would let any holder of `change_user` tick "superuser" on themselves. For anyone who
is not a superuser the user pages here offer only: names, email, active, a new password, and
a role, which is one of the two support groups. A role is offered only when the person
choosing it holds every permission it grants, and only users whose own permissions the
acting user holds can be changed at all (never a superuser), so nobody grants more than they
hold. Every change lands in the admin's history (LogEntry) as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm, UsernameField
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from support.staff.auth import granted_permissions

# The longest of the fields the user list searches: email (username and names hold 150).
LONGEST_SEARCHED = User._meta.get_field("email").max_length or 254
AGENT_GROUP = "Support agent"
LEAD_GROUP = "Support lead"
ROLES = {
    AGENT_GROUP: "Support agent: works the queue, reads customers, orders and calls",
    LEAD_GROUP: "Support lead: also manages agents, refund tiers and goodwill",
}

def _group_perms(group: Group) -> set[str]:
    rows = group.permissions.values_list("content_type__app_label", "codename")
    return {f"{app_label}.{codename}" for app_label, codename in rows}


def grantable_roles(acting: Any) -> list[str]:
    """The support groups `acting` may put someone in: those granting nothing they lack."""
    if acting.is_superuser:
        return list(ROLES)
    held = set(acting.get_all_permissions())
    groups = Group.objects.filter(name__in=list(ROLES))
    return [g.name for g in sorted(groups, key=lambda g: list(ROLES).index(g.name))
            if _group_perms(g) <= held]  # fmt: skip


def may_manage(acting: Any, member: User) -> bool:
    """Whether `acting` may change `member`: a superuser anyone; others only a non-superuser
    whose permissions (active or not) they hold themselves: a lead manages agents and leads."""
    if acting.is_superuser:
        return True
    return not member.is_superuser and granted_permissions(member) <= acting.get_all_permissions()


def group_names(members: Iterable[User]) -> dict[Any, list[str]]:
    """Each member's group names (sorted), by pk: two indexed reads for any number of members
    (a list page), as support/staff/auth.py reads them, instead of a $lookup per member."""
    user_groups: Any = User.groups.through  # django-stubs gives it no `objects` manager
    links = list(user_groups.objects.filter(user_id__in=[m.pk for m in members])
                 .values_list("user_id", "group_id"))  # fmt: skip
    names = dict(Group.objects.filter(pk__in={group for _, group in links})
                 .values_list("pk", "name"))  # fmt: skip
    found: dict[Any, list[str]] = {}
    for user_id, group_id in links:
        found.setdefault(user_id, []).append(names[group_id])
    return {user_id: sorted(groups) for user_id, groups in found.items()}


class TeamChangeList(ChangeList):
    """The team list, each row knowing its groups (`group_names`) for the role column."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        groups = group_names(self.result_list)
        for member in self.result_list:
            member.group_names = groups.get(member.pk, [])


def role_of(member: User) -> str | None:
    names = [name for name in member.groups.values_list("name", flat=True) if name in ROLES]
    return names[0] if len(names) == 1 else None


class RoleFormMixin(forms.Form):
    """A role choice limited to `grantable` (set by the admin before the form is built)."""

    grantable: list[str] = []
    acting: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)  # declared on the subclasses
        role.choices = [(name, ROLES[name]) for name in self.grantable]


class TeamMemberCreationForm(RoleFormMixin, AdminUserCreationForm):
    role = forms.ChoiceField(widget=forms.RadioSelect, initial=AGENT_GROUP)
    # A new team member always gets a password to log in with (removes the form's field).
    usable_password = None  # type: ignore[assignment]

    class Meta:
        model = User
        fields = ("username", "first_name", "last_name", "email")
        field_classes = {"username": UsernameField}


class TeamMemberChangeForm(RoleFormMixin, UserChangeForm):
    role = forms.ChoiceField(widget=forms.RadioSelect)

    class Meta:
        model = User
        fields = ("username", "first_name", "last_name", "email", "is_active")
        field_classes = {"username": UsernameField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["role"].initial = role_of(self.instance)

    def clean_is_active(self) -> bool:
        active = bool(self.cleaned_data.get("is_active"))
        if not active and self.acting is not None and self.instance.pk == self.acting.pk:
            raise forms.ValidationError("You cannot deactivate yourself; ask another lead.")
        return active


LEAD_ADD_FIELDSETS = (
    (None, {"fields": ("username", "first_name", "last_name", "email")}),
    ("Role", {"fields": ("role",)}),
    ("First password", {"fields": ("password1", "password2"),
                  "description": "Give them this password; they can change it after logging in."}),
)  # fmt: skip
LEAD_CHANGE_FIELDSETS = (
    (None, {"fields": ("username", "password", "first_name", "last_name", "email")}),
    ("Access", {"fields": ("is_active", "role")}),
    ("Dates", {"fields": ("last_login", "date_joined")}),
)


class TeamAdmin(UserAdmin):
    list_display = ("username", "full_name", "role", "is_active", "last_login")
    list_filter = ("is_active", "groups")
    actions = ("deactivate_selected",)
    # In the team's words, as the list (templates/admin/auth/user/) and its title say.
    add_form_template = "admin/auth/user/team_add_form.html"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        # Each word is looked for in the username, the names and the email. A search longer
        # than the longest of them finds nobody a person would look for, and is not sent to
        # the database as patterns (the embedded SecantusDB refuses one over 1,000
        # characters: the page answered 500).
        if len(search_term.strip()) > LONGEST_SEARCHED:
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="name")
    def full_name(self, obj: User) -> str:
        return obj.get_full_name() or "—"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return TeamChangeList

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Titled as the list and the staff pages' bar name them ("Team"), not "Add user".
        title = "Add team member" if object_id is None else "Team member"
        return super().changeform_view(
            request, object_id, form_url, {"title": title, **(extra_context or {})}
        )

    @admin.display(description="role")
    def role(self, obj: User) -> str:
        if obj.is_superuser:
            return "Superuser"
        names = getattr(obj, "group_names", None)
        if names is None:  # outside the list: one member
            names = group_names([obj]).get(obj.pk, [])
        return ", ".join(names) or "—"

    def _is_lead_view(self, request: HttpRequest) -> bool:
        return not request.user.is_superuser  # type: ignore[union-attr]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if not self._is_lead_view(request):
            return super().get_fieldsets(request, obj)
        return LEAD_CHANGE_FIELDSETS if obj else LEAD_ADD_FIELDSETS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if self._is_lead_view(request) and obj is not None:
            return ("last_login", "date_joined")
        return super().get_readonly_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:  # fmt: skip
        if not self._is_lead_view(request):
            return super().get_form(request, obj, change=change, **kwargs)
        base = TeamMemberChangeForm if obj else TeamMemberCreationForm
        form = type(base.__name__, (base,), {
            "grantable": grantable_roles(request.user), "acting": request.user,
        })  # fmt: skip
        return super().get_form(request, obj, change=change, form=form, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_manage(request.user, obj))

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if self._is_lead_view(request):
            obj.is_staff = True  # team members log in to the back office
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        role = form.cleaned_data.get("role") if self._is_lead_view(request) else None
        if role:
            # One support group: the role replaces whichever the member had.
            kept = form.instance.groups.exclude(name__in=list(ROLES))
            form.instance.groups.set([*kept, Group.objects.get(name=role)])

    @admin.action(description="Deactivate selected team members", permissions=["change"])
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for member in queryset.filter(is_active=True):
            if member.pk == request.user.pk or not may_manage(request.user, member):
                self.message_user(request, f"{member.username} was left active: you may not "
                                  "deactivate them.", messages.WARNING)  # fmt: skip
                continue
            member.is_active = False
            member.save(update_fields=["is_active"])
            done += 1
        self.message_user(request, f"{done} deactivated.", messages.SUCCESS)


class GroupsAdmin(GroupAdmin):
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Group], search_term: str
    ) -> tuple[QuerySet[Group], bool]:
        # As the team's: a search longer than any group's name is not sent as a pattern.
        if len(search_term.strip()) > (Group._meta.get_field("name").max_length or 150):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)


admin.site.unregister(User)
admin.site.register(User, TeamAdmin)
admin.site.unregister(Group)
admin.site.register(Group, GroupsAdmin)
