"""/staff/live/…: mounted by voiceproject/urls.py."""

from __future__ import annotations

from django.urls import path

from livestaff import views

app_name = "livestaff"

urlpatterns = [
    path("", views.live, name="live"),
    path("<str:call_id>/", views.call, name="call"),
]
