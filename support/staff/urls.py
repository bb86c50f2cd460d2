"""/staff/…: mounted by voiceproject/urls.py."""

from __future__ import annotations

from django.urls import path

from support.staff.views import calls, customers, dashboard, queue

app_name = "staff"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("export/<slug:kind>.csv", dashboard.export, name="export"),
    path("search/", customers.search, name="search"),
    path("customers/<int:user_id>/", customers.customer, name="customer"),
    path("customers/<int:user_id>/goodwill", customers.request_goodwill, name="goodwill"),
    path("goodwill/<str:goodwill_id>/approve", customers.approve_goodwill,
         name="goodwill_approve"),
    path("goodwill/<str:goodwill_id>/reject", customers.reject_goodwill, name="goodwill_reject"),
    path("queue/", queue.queue, name="queue"),
    path("queue/<slug:status>/", queue.queue, name="queue_status"),
    path("tickets/<str:ticket_id>/", queue.ticket, name="ticket"),
    path("tickets/<str:ticket_id>/claim", queue.claim, name="claim"),
    path("tickets/<str:ticket_id>/assign", queue.assign, name="assign"),
    path("tickets/<str:ticket_id>/note", queue.add_note, name="note"),
    path("tickets/<str:ticket_id>/resolve", queue.resolve, name="resolve"),
    path("calls/", calls.calls, name="calls"),
    path("calls/<str:call_id>/", calls.call, name="call"),
]
