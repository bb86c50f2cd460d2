"""HAProxy (Debian's, or the official image) in front of several daphne workers.

`local_config()` is the configuration `python -m voiceproject.workers` writes into its run
directory; `compose_config()` is deploy/haproxy.cfg, the same balancer finding the app
containers through Docker's DNS. Both are plain text built here, so the reasons for each
setting live next to it; `python -m voiceproject.balancer --compose` prints the second.

`runtime_command()` talks to a running HAProxy over its stats socket (the workers command
moves a worker slot to a restarted process's port with it; tests read server states).
"""

from __future__ import annotations

import argparse
import csv
import io
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path

BACKEND = "daphne"
# With staff workers (`--staff-workers K`): the pages and sockets of the back office go to
# processes that carry no calls. Rendering a page holds a Python process's CPU (and its GIL)
# for 10-40 ms, which the calls' audio on that process would wait for (README, "A live call
# while staff browse").
STAFF_BACKEND = "staff"
STAFF_PATHS = ("/admin/", "/staff/", "/ws/staff/")
STAFF_SLOT_PREFIX = "s"

_GLOBAL = """\
global
    log stdout format raw local0 info
    # One thread moves thousands of WebSockets (about 10% of a core for 100 calls) and
    # leaves the other cores to the workers.
    nbthread 1
{stats}{exclusive}"""

_EXCLUSIVE = """\
    # One HAProxy per port. With SO_REUSEPORT (HAProxy's default on Linux) a second one
    # started on this port (another workers command) would bind it too, and the kernel would
    # split the connections between the two; without, it fails: Address already in use.
    noreuseport
"""

# HAProxy's HTTP log format (`option httplog`) with "%HM %HP %HV" for its request line "%r".
HTTP_LOG_FORMAT = (
    "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc "
    r"%sq/%bq %hr %hs \"%HM %HP %HV\""
)

_DEFAULTS = """\
defaults
    mode http
    log global
    # `option httplog`'s line (client, time, frontend, backend/server, timers, status, bytes,
    # connection counts, queues) with the request's path but not its query string: the voice
    # page's `?token=` and `?resume=` are secrets (contract 2 and 7) that would outlive the
    # call in the log, for anyone who reads it to spend or to take the call over with.
    log-format "{log_format}"
    option dontlognull
    # Slow clients (slowloris): a request's line and headers, and its body too (see
    # http-buffer-request below), must arrive within 10 s, and a client silent for 30 s in the
    # middle of a request is dropped; daphne never sees either.
    timeout http-request 10s
    timeout client 30s
    timeout server 30s
    timeout connect 3s
    timeout http-keep-alive 10s
    timeout queue 10s
    # After the upgrade a WebSocket is a tunnel, timed only by this idle limit. Calls stream
    # audio every 20-40 ms and daphne pings every socket every 20 s, so a tunnel idle for
    # 10 minutes is dead. There is no limit on a WebSocket's lifetime here.
    timeout tunnel 10m
    timeout client-fin 10s
    timeout server-fin 10s
    timeout check 3s
    # A worker that refuses the connection (it died, or is restarting) or dies holding a
    # request costs the client nothing: the request is retried on another worker (only a
    # GET or HEAD once sent, see the backend: anything else may have changed something).
    # So does a 503: a draining worker answers it to what it was sent before its health
    # checks took it out of rotation (a second or so), and the next worker answers instead.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response 503
"""

_FRONTEND = """\
frontend voice
{binds}
    # Hold each request until its body is in (within timeout http-request), so a slow
    # uploader ties up HAProxy, not a worker.
    option http-buffer-request
    # Workers take the client from the last X-Forwarded-For entry (TRUSTED_PROXY_COUNT=1), so
    # they get exactly one, which the client did not choose: {forwarded_why}
{forwarded}
{routes}    default_backend {backend}
"""

_STAFF_ROUTE = """\
    # The back office to the staff workers, so that no page is rendered beside a call; while
    # none is up (restarting, or none deployed) the call workers serve it rather than a 503.
    acl staff_page path_beg {paths}
    use_backend {backend} if staff_page {{ nbsrv({backend}) gt 0 }}
"""

_EDGE = (
    "HAProxy is the edge, so the address that\n"
    "    # connected (and the scheme it used).",
    "    http-request set-header X-Forwarded-For %[src]\n"
    "    http-request set-header X-Forwarded-Proto https if { ssl_fc }\n"
    "    http-request set-header X-Forwarded-Proto http unless { ssl_fc }",
)
_BEHIND_PROXY = (
    "behind a proxy, the address that proxy\n"
    "    # appended last (and the scheme it says).",
    "    http-request set-header X-Forwarded-For %[req.hdr(x-forwarded-for,-1)] "
    "if { req.hdr(x-forwarded-for) -m found }\n"
    "    http-request set-header X-Forwarded-For %[src] "
    "unless { req.hdr(x-forwarded-for) -m found }",
)

_BACKEND = """\
backend {backend}
    # Calls are long-lived WebSockets: send each new one to the worker carrying the fewest.
    balance leastconn
    # A worker is in rotation while GET /healthz answers 200. A draining worker answers 503:
    # after two failed checks (1 to 1.5 s) it gets no new connection, while the WebSockets
    # it carries stay up (HAProxy cuts them only with on-marked-down shutdown-sessions).
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host {health_host}
    http-check expect status 200
    http-request disable-l7-retry if !METH_GET !METH_HEAD
    # A new connection per request: an idle one kept for reuse would still lead to a worker
    # after its slot was pointed at the next one (a rolling restart), and a visitor would get
    # the draining worker's 503. Requests other than calls are few; the cost is a connect.
    http-reuse never
    default-server check inter 1s fastinter 500ms downinter 1s fall 2 rise 1
{servers}"""


def _config(
    *,
    header: str,
    binds: Iterable[str],
    health_host: str,
    servers: Iterable[str],
    stats_socket: Path | None = None,
    behind_proxy: bool = False,
    extra: str = "",
    staff_servers: Iterable[str] = (),
    exclusive_port: bool = False,
) -> str:
    stats = (
        f"    # The runtime API: the workers command moves a slot to a restarted worker's port.\n"
        f"    stats socket {stats_socket} mode 600 level admin\n"
        if stats_socket
        else ""
    )
    why, forwarded = _BEHIND_PROXY if behind_proxy else _EDGE
    staff_servers = list(staff_servers)
    routes = (
        _STAFF_ROUTE.format(paths=" ".join(STAFF_PATHS), backend=STAFF_BACKEND)
        if staff_servers else ""
    )  # fmt: skip
    backends = [(BACKEND, servers)] + ([(STAFF_BACKEND, staff_servers)] if staff_servers else [])
    return "\n".join(
        [
            header,
            _GLOBAL.format(stats=stats, exclusive=_EXCLUSIVE if exclusive_port else ""),
            *([extra] if extra else []),
            _DEFAULTS.format(log_format=HTTP_LOG_FORMAT),
            _FRONTEND.format(
                binds="".join(f"    {line}\n" for line in binds).rstrip("\n"),
                forwarded=forwarded, forwarded_why=why, backend=BACKEND, routes=routes,
            ),  # fmt: skip
            *(
                _BACKEND.format(
                    backend=name,
                    health_host=health_host,
                    servers="".join(f"    {line}\n" for line in lines),
                )
                for name, lines in backends
            ),
        ]
    )


def backend_of(slot: str) -> str:
    """The backend of a worker slot: "s1", "s2", ... are staff workers, the others carry calls."""
    return STAFF_BACKEND if slot.startswith(STAFF_SLOT_PREFIX) else BACKEND


def local_config(
    *,
    bind: str,
    workers: Mapping[str, int],
    health_host: str,
    stats_socket: Path,
    behind_proxy: bool = False,
) -> str:
    """HAProxy on `bind` ("127.0.0.1:8000") in front of daphne workers on loopback ports
    (`{"w1": 40001, ...}`; slots "s1", ... are staff workers), with its runtime API on
    `stats_socket`."""
    lines = {name: f"server {name} 127.0.0.1:{port}" for name, port in workers.items()}
    return _config(
        header="# Written by `python -m voiceproject.workers` at each start; edit "
        "voiceproject/balancer.py instead.",
        binds=[f"bind {bind}"],
        health_host=health_host,
        servers=[line for name, line in lines.items() if backend_of(name) == BACKEND],
        staff_servers=[line for name, line in lines.items() if backend_of(name) != BACKEND],
        stats_socket=stats_socket,
        behind_proxy=behind_proxy,
        exclusive_port=True,
    )


# Where deploy/compose.yaml mounts deploy/certs/ (one PEM per site: certificate, chain, key).
COMPOSE_CERTS = "/usr/local/etc/haproxy/certs/"


def compose_config(
    *, service: str = "app", staff_service: str = "staff", port: int = 8000, slots: int = 10
) -> str:
    """HAProxy for deploy/compose.yaml, the edge: HTTPS on 8443 with the certificates in
    COMPOSE_CERTS, plain HTTP on 8080 redirected to it, in front of up to `slots` replicas of
    `service` (calls) and of `staff_service` (the back office) found through Docker's DNS (one
    address per running replica). Health checks send the Host in $HEALTH_CHECK_HOST (one of
    the app's ALLOWED_HOSTS)."""

    def replicas(name: str) -> str:
        return f"server-template {name} 1-{slots} {name}:{port} resolvers docker init-addr none"

    return _config(
        header="# deploy/haproxy.cfg: written by `python -m voiceproject.balancer --compose`;\n"
        "# edit voiceproject/balancer.py and write it again.",
        binds=[
            "bind :8080",
            f"bind :8443 ssl crt {COMPOSE_CERTS} alpn http/1.1",
            "http-request redirect scheme https unless { ssl_fc }",
        ],
        health_host='"${HEALTH_CHECK_HOST}"',
        servers=[replicas(service)],
        staff_servers=[replicas(staff_service)],
        extra="resolvers docker\n    nameserver dns 127.0.0.11:53\n    hold valid 5s\n",
    )


def health_check_host(allowed_hosts: Iterable[str]) -> str:
    """A Host header the workers accept for the balancer's health checks (Django answers 400
    to a host outside ALLOWED_HOSTS, which would take every worker out of rotation)."""
    for host in allowed_hosts:
        if host == "*":
            return "localhost"
        name = host.lstrip(".")  # ".example.com" allows example.com itself
        if name:
            return name
    return "localhost"


def runtime_command(stats_socket: Path, command: str, timeout: float = 2.0) -> str:
    """Run one command on HAProxy's runtime API and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(stats_socket))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def point_server(stats_socket: Path, name: str, port: int) -> None:
    """Send `name`'s new connections to 127.0.0.1:`port` (its open ones stay where they are)."""
    command = f"set server {backend_of(name)}/{name} addr 127.0.0.1 port {port}"
    answer = runtime_command(stats_socket, command)
    if "changed" not in answer and "no need to change" not in answer:
        raise RuntimeError(f"HAProxy refused to move {name} to port {port}: {answer.strip()}")


def server_states(stats_socket: Path) -> dict[str, str]:
    """Each worker slot's state as HAProxy sees it: "UP", "DOWN", "MAINT", ..."""
    answer = runtime_command(stats_socket, "show stat").lstrip("# ")
    return {
        row["svname"]: row["status"]
        for row in csv.DictReader(io.StringIO(answer))
        if row["pxname"] in (BACKEND, STAFF_BACKEND)
        and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Print a HAProxy configuration.")
    parser.add_argument("--compose", action="store_true", help="deploy/haproxy.cfg")
    args = parser.parse_args()
    if not args.compose:
        parser.error("the workers command writes its own configuration; use --compose")
    print(compose_config(), end="")


if __name__ == "__main__":
    main()
