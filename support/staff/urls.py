"""/staff/…: mounted by voiceproject/urls.py."""

from __future__ import annotations

from django.urls import path

from support.staff import views

app_name = "staff"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("queue/", views.queue, name="queue"),
    path("queue/<slug:status>/", views.queue, name="queue_status"),
    path("tickets/<str:ticket_id>/", views.ticket, name="ticket"),
    path("tickets/<str:ticket_id>/claim", views.claim, name="claim"),
    path("tickets/<str:ticket_id>/assign", views.assign, name="assign"),
    path("tickets/<str:ticket_id>/note", views.add_note, name="note"),
    path("tickets/<str:ticket_id>/resolve", views.resolve, name="resolve"),
    path("calls/", views.calls, name="calls"),
    path("calls/<str:call_id>/", views.call, name="call"),
]
