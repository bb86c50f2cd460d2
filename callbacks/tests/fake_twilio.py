"""A local HTTP server standing in for api.twilio.com's Calls resource, recording what it is
asked: point TWILIO_API_BASE_URL at `url` and the real `twilio` client talks to it.

    with FakeTwilioApi() as twilio:
        settings.TWILIO_API_BASE_URL = twilio.url
        ...                                   # something places a call
        [request] = twilio.requests           # method, path, headers, form

It answers `POST /2010-04-01/Accounts/{sid}/Calls.json` as Twilio does (201 and the call's
JSON, a fresh CallSid each time), or with `refuse_with` set, Twilio's error document, or with
`garbled` set, a 200 with that body, which names no call (a proxy's page, say). With
`answer_after_s` it is slow to answer; a request it has not answered when it stops gets no
answer (its connection closes), as from a Twilio that was never heard from again.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]  # each form field's (single) value


class FakeTwilioApi:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        # (HTTP status, Twilio error code, message) to refuse every call with, or None.
        self.refuse_with: tuple[int, int, str] | None = None
        self.garbled: bytes | None = None  # the body of a 200 that names no call
        self.answer_after_s = 0.0  # a slow Twilio
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTwilioApi:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                fake.requests.append(Recorded(
                    "POST", self.path, dict(self.headers.items()),
                    {name: values[-1] for name, values in form.items()},
                ))  # fmt: skip
                if fake._stopping.wait(fake.answer_after_s):
                    self.close_connection = True  # stopped before answering: no answer
                    return
                if fake.refuse_with is not None:
                    status, code, message = fake.refuse_with
                    info = f"https://www.twilio.com/docs/errors/{code}"
                    self._answer(status, {"code": code, "message": message, "status": status,
                                          "more_info": info})  # fmt: skip
                    return
                if fake.garbled is not None:
                    self._send(200, fake.garbled, "text/html")
                    return
                self._answer(201, {"sid": f"CA{len(fake.requests):032x}", "status": "queued"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                # A client that stopped waiting (its timeout, against a slow Twilio) is gone.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `requests`; nothing to print

        return Handler
