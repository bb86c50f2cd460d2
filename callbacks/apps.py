from __future__ import annotations

from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    name = "callbacks"
    verbose_name = "Callbacks"

    def ready(self) -> None:
        # Registers the agent's callback tools with support.tools (which never imports this
        # app) and the configuration checks.
        from callbacks import checks, tools  # noqa: F401
