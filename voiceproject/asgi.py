"""ASGI entry point: HTTP to Django (static files included), WebSockets to the voice bridge.

    every request -> voiceproject.proxies: the client's address, per TRUSTED_PROXY_COUNT
    http       -> Django (servestatic middleware serves /static/ from collectstatic output)
    websocket  -> realtime.routing: each route wrapped in its own guard (the browser route
                  behind the allowed-hosts origin check, Twilio's behind its signature check)
               -> support.staff.routing: the live escalation queue (staff session, same origin)
               -> livestaff.routing: live calls and a live call's view (the same guards)
               -> any other path: refused (voiceproject.consumers.no_such_socket)
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
django_application = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from livestaff.routing import live_staff_websocket_urlpatterns  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from support.staff.routing import staff_websocket_urlpatterns  # noqa: E402
from voiceproject.consumers import no_such_socket  # noqa: E402
from voiceproject.lifecycle import (  # noqa: E402
    bound_slow_requests,
    close_clients_at_shutdown,
    close_oversized_frames_with_1009,
    drain_on_sigterm,
    freeze_startup_objects,
    ignore_daphne_proxy_headers,
    keep_numpy_on_one_thread,
    keep_query_strings_out_of_the_access_log,
    let_the_event_loop_in_promptly,
    log_access_through_logging,
    sweep_from_the_start,
)
from voiceproject.proxies import TrustedProxies  # noqa: E402

# The client's address first: everything below reads it (voiceproject/proxies.py).
application = TrustedProxies(
    ProtocolTypeRouter(
        {
            "http": django_application,
            # types-channels wants its own URLPattern subclass, which path() never returns.
            "websocket": URLRouter(
                [
                    *websocket_urlpatterns,  # type: ignore[list-item]
                    *staff_websocket_urlpatterns,  # type: ignore[list-item]
                    *live_staff_websocket_urlpatterns,  # type: ignore[list-item]
                    # Any other path: an ASGI app, which the stubs' re_path() does not expect.
                    re_path(r"", no_such_socket),  # type: ignore[arg-type,list-item]
                ]
            ),
        }
    )
)

close_clients_at_shutdown()
sweep_from_the_start()
close_oversized_frames_with_1009()
ignore_daphne_proxy_headers()
bound_slow_requests()
keep_query_strings_out_of_the_access_log()
log_access_through_logging()
drain_on_sigterm()
let_the_event_loop_in_promptly()
keep_numpy_on_one_thread()
freeze_startup_objects()  # last: everything above lives as long as the process
