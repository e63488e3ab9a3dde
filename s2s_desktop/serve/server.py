"""Binding and running: the address rules, the socket, uvicorn, and a clean stop on SIGINT/SIGTERM.

The socket is bound here, before uvicorn starts, so that a port in use is one clear error and port 0
(any free port) reports the port it got. uvicorn handles the signals: it stops accepting connections,
lets the requests in flight finish for up to `grace` seconds (cancelling the rest: their jobs leave the
queue), then the application's lifespan stops the model workers.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from s2s_desktop.errors import ConfigError

log = logging.getLogger("s2s.serve")
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_binding(host: str, api_keys: frozenset[str] | None, no_auth_on_network: bool) -> str | None:
    """Raise ConfigError for a network address without keys; return a warning to print, or None."""
    if is_loopback(host):
        return None
    if api_keys is not None:
        return None
    if not no_auth_on_network:
        raise ConfigError(f"--host {host} makes the server reachable from other machines: give --api-keys FILE, "
                          "or --no-auth-on-network to serve anyone who can reach this address")
    return (f"warning: serving on {host} without API keys: anyone who can reach this address can use the "
            "server and its CPU/GPU")


def read_api_keys(path: str) -> frozenset[str]:
    """One key per line; blank lines and lines starting with # are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--api-keys {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--api-keys {path}: not UTF-8 text") from exc
    keys = frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
    if not keys:
        raise ConfigError(f"--api-keys {path}: no keys in it (one key per line; # starts a comment)")
    return keys


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise ConfigError(f"port {port} on {host} is in use; choose another with --port (0 = any free port)") \
                from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(app, sock: socket.socket, grace: float, ready: Callable[[str], None] = print) -> None:
    """Serve `app` on the bound `sock` until SIGINT/SIGTERM."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=max(int(grace), 1), backlog=2048)
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    ready(f"serving on http://{shown}:{port} (Ctrl+C stops)")
    sys.stdout.flush()
    # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found: make
    # that one a no-op, so that a requested stop ends the command normally (status 0) instead of killing it
    caught: list[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda number, frame: caught.append(number))
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped%s", f" ({signal.Signals(caught[0]).name})" if caught else "")
