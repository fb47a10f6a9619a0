"""A script for `python3 -c`: connects to every HOST:PORT given at once, within
one 2 s window, and prints each one that accepted.  A test that several
connections must all fail tries them together in one process instead of one
process and one timeout after another."""

CONNECT_ALL = """\
import selectors, socket, sys, time
sel = selectors.DefaultSelector()
for target in sys.argv[1:]:
    host, _, port = target.rpartition(":")
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex((host, int(port)))
    sel.register(c, selectors.EVENT_WRITE, target)
end = time.monotonic() + 2
while sel.get_map() and time.monotonic() < end:
    for key, _ in sel.select(end - time.monotonic()):
        sel.unregister(key.fileobj)
        if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            print(key.data, flush=True)
"""
