"""The back office's admin site: Django's, with its titles, the throttled login and password
forms, and two of its views made to answer bad URLs as it answers others (not with a 500).

It is the default site (`voiceproject.apps.MongoAdminConfig.default_site`), so `admin.site`
and `@admin.register` are this site everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.auth.views import PasswordChangeView
from django.contrib.contenttypes import views as contenttype_views
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, URLResolver, path, reverse

from support.staff.throttle import ThrottledAdminAuthenticationForm, ThrottledPasswordChangeForm

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

# Models the back office calls otherwise than their verbose names, by label: Django's users
# are the team (support/staff/team.py), "Team" in the staff pages' bar. The change list says
# it too (templates/admin/auth/user/); verbose names on auth's model would be a migration.
MODEL_NAMES = {"auth.User": "Team"}


class SupportAdminSite(admin.AdminSite):
    site_header = "Voice support back office"
    site_title = "Voice support"
    index_title = "Support data"
    empty_value_display = "—"  # as the staff pages write "none" (Django's is "-")
    login_form = ThrottledAdminAuthenticationForm

    # django-stubs says a TemplateResponse; a changed password is a redirect, in Django's too.
    def password_change(  # type: ignore[override]
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """Django's, with the throttled form (the admin has no setting for it)."""
        view = PasswordChangeView.as_view(
            form_class=ThrottledPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )
        request.current_app = self.name
        return view(request)

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        """Django's, with the models of MODEL_NAMES named as the staff pages name them (the
        index, the app's page and the side bar)."""
        apps = super().get_app_list(request, app_label)
        for app in apps:
            for model in app["models"]:
                model["name"] = MODEL_NAMES.get(model["model"]._meta.label, model["name"])
        return apps

    def admin_view(self, view: View, cacheable: bool = False) -> View:
        """Every admin page, with an empty `_to_field` dropped first: Django's change and
        delete views look up a field named "" for it and answer 500 (FieldDoesNotExist, in
        Django 5.2.19 on any database)."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def without_empty_to_field(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            for method in ("GET", "POST"):  # the views read the form's, then the query's
                query = getattr(request, method)
                if query.get(TO_FIELD_VAR) == "":
                    query = query.copy()
                    del query[TO_FIELD_VAR]
                    setattr(request, method, query)
            return inner(request, *args, **kwargs)

        return cast(View, without_empty_to_field)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        # Before Django's own view-on-site route, which it replaces.
        shortcut = path("r/<path:content_type_id>/<path:object_id>/",
                        self.admin_view(view_on_site), name="view_on_site")  # fmt: skip
        return [shortcut, *super().get_urls()]


def view_on_site(request: HttpRequest, content_type_id: str, object_id: str) -> HttpResponse:
    """The admin's "view on site" redirect (/admin/r/<type>/<id>/): an id that is no ObjectId
    is a 404. Django's view turns an integer id's ValueError into one, not the ValidationError
    of django-mongodb-backend's ids (a 500). No model here has a page on the site, so every
    such link answers 404 anyway."""
    try:
        return contenttype_views.shortcut(request, content_type_id, object_id)
    except ValidationError:
        raise Http404("There is no such object.") from None
