"""Structured logs: one JSON object per line, with the call id on every line of a call.

`call_id` is a context variable: set it where a call starts (CallObserver does, in the task
that carries the call), and every log line of that task and of the tasks it starts afterwards
carries it. `LOG_FORMAT=json` selects `JsonFormatter` in settings.LOGGING; the plain format
shows the call id too.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)


def context_of(call: str) -> contextvars.Context:
    """A copy of the current context whose log lines carry `call`: for a task of that call
    started from code that is not the call's own (a socket that came back, a message from
    another process)."""
    context = contextvars.copy_context()
    context.run(call_id.set, call)
    return context


@contextlib.contextmanager
def about(call: str) -> Iterator[None]:
    """Log lines inside the block carry `call` (work on one call among others, as the
    sweeper's)."""
    token = call_id.set(call)
    try:
        yield
    finally:
        call_id.reset(token)


class CallIdFilter(logging.Filter):
    """Puts the current call id (or "-") on every record as `call_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = call_id.get() or "-"
        return True


class ClientFaultsAsWarnings(logging.Filter):
    """A request Django refuses as suspicious (`django.security.*`: a Host not in
    ALLOWED_HOSTS, too many fields, a multipart body it cannot read) is answered 400, and
    Django logs it at ERROR with its own traceback. It is the client's doing, and scanners
    send them all day: at WARNING, without the traceback, so that ERROR stays for faults of
    ours, which alerts watch. `level`: the lowest level logged (LOG_LEVEL), which a line
    lowered to WARNING must still reach; the handler's own level was checked before."""

    def __init__(self, level: str = "INFO") -> None:
        super().__init__()
        self.lowest = logging.getLevelNamesMapping()[level]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security.") and record.levelno == logging.ERROR:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
            return record.levelno >= self.lowest
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = getattr(record, "call_id", None) or call_id.get()
        if current and current != "-":
            entry["call_id"] = current
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
