"""Any handler write through the control protocol yields a reply: OK, a refusal
that says why, never a traceback (which would mean a bug in an element).

The router is router.click and nat-gateway.click without their devices, so
that every handler of the elements a lab uses is there to be written."""
import contextlib
import io
import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.fuzz.conftest import nat_run, router_run
from vforward.control import GREETING, HandlerCaller

RUNS = [router_run(), nat_run()]
WRITES = sorted({(i, f"{name}.{h}") for i, run in enumerate(RUNS)
                 for name, el in run.router.elements.items()
                 for h, handler in el.handlers().items() if handler.write is not None})
VALUES = ["", "0", "1", "-1", "4294967296", "1e309", "nan", "true", "maybe", "10.0.0.1",
          "10.0.0.0/8 10.0.0.2 1", "0.0.0.0/0 3", "10.9.0.0/16 99", "02:00:00:00:00:01",
          "10.0.0.9 02:00:00:00:00:09", "ff:ff", "tcp", "pattern - - - - 0 1", "drop", "\x00",
          "\xff\xfe", "a" * 300, "999999999999999999999", "5min", "-5s", "1 2 3 4 5 6 7 8",
          "10.0.0.1 10.0.0.2 1 2 3", "any", "on", "off", "down", "up", "100%", "1gbit",
          "delay 10ms", "128 129"]


@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(WRITES),
       st.one_of(st.sampled_from(VALUES), st.text(max_size=30),
                 st.lists(st.sampled_from(VALUES), max_size=4).map(" ".join)))
def test_any_write_to_any_handler_is_answered_without_a_traceback(target, value):
    run, handler = RUNS[target[0]], target[1]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):       # where a bug's traceback would go
        reply = HandlerCaller(run.router).write(handler, value)
    assert reply.code in (200, 220, 520), reply.lines
    err = err.getvalue()
    assert "Traceback" not in err, f"WRITE {handler} {value!r}:\n{err}"
    if reply.code == 520:
        assert len(" ".join(reply.lines)) > len(handler) + 20   # says why


def test_garbage_lines_on_the_socket_get_replies_and_the_server_stays_up(tmp_path):
    """Bytes no client would send: each line gets a numbered reply."""
    import threading
    import time
    from vforward.control import ControlServer
    run = router_run()
    path = str(tmp_path / "fz.sock")
    server = ControlServer(run.router, path=path)
    run.router.listeners.append(server)
    server.bind()
    thread = threading.Thread(target=run.router.run, kwargs={"duration": 30}, daemon=True)
    thread.start()
    try:
        import random
        rng = random.Random(16)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        for _ in range(100):
            try:
                s.connect(path)
                break
            except OSError:
                time.sleep(0.02)
        f = s.makefile("rb")
        assert f.readline().strip() == GREETING.encode()
        lines = [b"", b"READ", b"WRITE", b"READ ..", b"WRITE rt.add \xff\xfe", b"READDATA x -1",
                 b"WRITEDATA rt.add 99999999999", b"\x00\x01\x02", b"READ " + b"a" * 5000,
                 b"CHECKWRITE", b"HELP me"] + [rng.randbytes(rng.randrange(1, 40)).replace(b"\n", b"")
                                               .replace(b"\r", b"") for _ in range(40)]
        for line in lines:
            if not line.split() or line.upper().startswith((b"READUNTIL", b"WRITEUNTIL")) or \
                    (line.startswith((b"WRITEDATA", b"READDATA")) and not line.endswith(b"-1")):
                continue     # a blank line gets no reply; these wait for data to follow
            s.sendall(line + b"\n")
            reply = f.readline()
            while reply[3:4] == b"-":
                reply = f.readline()
            assert reply[:3].isdigit(), (line, reply)
            if reply.startswith(b"200") and line.upper().startswith(b"READ"):
                f.read(int(f.readline().split()[1]))    # DATA n, then n bytes
        s.sendall(b"READ rt.table\n")
        assert f.readline().startswith(b"200")
        s.close()
    finally:
        run.router.loop.call_soon_threadsafe(run.router.stop)
        thread.join(5)
        run.close()
