from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from callbacks import views as callbacks_views
from realtime.pages import voice_page
from realtime.phone.views import twilio_voice
from realtime.views import create_voice_session
from voiceproject.health import healthz

handler403 = "support.staff.views.common.permission_denied"

urlpatterns = [
    path("", voice_page, name="voice-page"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("staff/callbacks/", include("callbacks.urls")),
    path("staff/live/", include("livestaff.urls")),
    path("staff/", include("support.staff.urls")),
    path("api/voice/sessions", create_voice_session, name="voice-sessions"),
    path("twilio/voice", twilio_voice, name="twilio-voice"),
    path("twilio/dial-status", callbacks_views.dial_status, name="twilio-dial-status"),
    path("", include("postcall.urls")),
]
