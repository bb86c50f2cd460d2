from __future__ import annotations

from django.apps import AppConfig


class PostCallConfig(AppConfig):
    name = "postcall"
    verbose_name = "After the call"
