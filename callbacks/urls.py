"""/staff/callbacks/…: mounted by voiceproject/urls.py."""

from __future__ import annotations

from django.urls import path

from callbacks import views

app_name = "callbacks"

urlpatterns = [
    path("", views.board, name="board"),
    path("<str:callback_id>/claim", views.claim, name="claim"),
    path("<str:callback_id>/release", views.release, name="release"),
    path("<str:callback_id>/done", views.mark_done, name="done"),
    path("<str:callback_id>/missed", views.mark_missed, name="missed"),
    path("<str:callback_id>/call", views.call_now, name="call"),
    path("<str:callback_id>/calling", views.calling, name="calling"),
]
