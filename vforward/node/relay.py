"""`vforward node relay`: this process's stdin and stdout joined to the node's
control socket, byte for byte.

It is what `vforward topo stats`, `link`, `impair`, `capture` and `top` run in
a node's pod, as `python3 -m vforward.node.relay` (the same as `vforward node
relay`, but without the whole command line's imports: it starts in a tenth of
the time, and every router of a command starts one) (through the Kubernetes API's exec stream) to talk to its router:
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
import sys

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


def main(argv: list[str]) -> int:
    """`python3 -m vforward.node.relay [--control PATH]`; 1 with a message when the
    socket cannot be reached."""
    control = None
    if argv[:1] == ["--control"] and len(argv) == 2:
        control = argv[1]
    elif argv:
        print("usage: python3 -m vforward.node.relay [--control PATH]", file=sys.stderr)
        return 2
    path = control_path(control)
    try:
        relay(path)
    except OSError as e:
        print(f"vforward: error: cannot reach the node's control socket {path}: "
              f"{e.strerror or e}; is 'vforward node run' up in this pod?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
