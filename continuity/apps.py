from __future__ import annotations

from django.apps import AppConfig


class ContinuityConfig(AppConfig):
    """Calls that outlive their connection and their process (contract section 7)."""

    name = "continuity"
