"""TCP listening sockets for a router's local services (control, metrics):
bound at once, so that a busy port is reported before the router runs."""
from __future__ import annotations

import errno
import ipaddress
import socket


def listen_tcp(host: str, port: int, what: str) -> socket.socket:
    """A non-blocking listening socket on host:port (port 0: any free one).
    Raises OSError with a sentence that names `what` and the fix."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise OSError(f"{what}: cannot resolve host {host!r}: {e.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(16)
    except OSError as e:
        sock.close()
        fix = ("choose another port, or stop the program using it"
               if e.errno == errno.EADDRINUSE else "check the host and port")
        raise OSError(e.errno, f"cannot open {what} on TCP {host}:{port}: {e.strerror}; {fix}") \
            from None
    sock.setblocking(False)
    return sock


def is_loopback(host: str) -> bool:
    """True when a listening address takes connections from this machine only."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def exposure(sock: socket.socket, what: str) -> str:
    """The sentence a service prints at start: where it listens, and whether
    other machines can reach it (a control socket runs every write handler
    for whoever connects, so this is said out loud)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if is_loopback(host):
        return f"{what}: listening on TCP {shown} (loopback only; give HOST:PORT to listen elsewhere)"
    return (f"{what}: listening on TCP {shown}, reachable from other machines: anyone who "
            "can connect can call its handlers")
