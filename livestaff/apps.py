from __future__ import annotations

from django.apps import AppConfig


class LiveStaffConfig(AppConfig):
    """Staff on live calls: listen, whisper, take over, hand back (contract section 8)."""

    name = "livestaff"
