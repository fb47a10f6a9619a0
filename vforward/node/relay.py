"""`vforward node relay`: this process's stdin and stdout joined to the node's
control socket, byte for byte.

It is what `vforward topo stats`, `link`, `impair`, `capture` and `top` run in
a node's pod (through the Kubernetes API's exec stream) to talk to its router:
the control socket is a unix socket inside the pod, which no port-forward can
reach, and the exec stream already carries bytes both ways.  The client at the
other end speaks the ordinary control protocol (vforward.control); the relay
neither reads nor changes it.  It ends when the socket closes (after QUIT) or
stdin ends.
"""
from __future__ import annotations

import os
import selectors
import socket

CHUNK = 65536


def control_path(control: str | None) -> str:
    """The node's control socket, by the rule `node run` uses (see vforward.node)."""
    from vforward.node.run import DEFAULT_RUN_DIR
    if control:
        return control
    return os.path.join(os.environ.get("VFORWARD_RUN_DIR") or DEFAULT_RUN_DIR, "control.sock")


def relay(path: str, stdin: int = 0, stdout: int = 1) -> None:
    """Copy stdin to the unix socket at `path` and the socket to stdout until
    either ends; OSError when the socket cannot be reached."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        sel = selectors.DefaultSelector()
        sel.register(stdin, selectors.EVENT_READ)
        sel.register(sock, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj is sock:
                    data = sock.recv(CHUNK)
                    if not data:
                        return
                    view = memoryview(data)
                    while view:
                        view = view[os.write(stdout, view):]
                else:
                    data = os.read(stdin, CHUNK)
                    if not data:
                        # No more requests: let the router answer what it has, then end.
                        sel.unregister(stdin)
                        sock.shutdown(socket.SHUT_WR)
                        continue
                    sock.sendall(data)
    finally:
        sock.close()
