from __future__ import annotations

from django.urls import path

from postcall import views

app_name = "postcall"

urlpatterns = [
    path("metrics", views.metrics_view, name="metrics"),
    path("staff/calls/<str:call_id>/recording.ogg", views.recording, name="recording"),
    path("staff/calls/<str:call_id>/recording-<int:part>.ogg", views.recording,
         name="recording_part"),  # fmt: skip
    path("staff/calls/<str:call_id>/summary", views.rerun_summary, name="rerun_summary"),
]
