"""`vforward node relay`: stdin and stdout joined to a node's control socket,
so that a client at the far end of a pipe (a pod's exec stream) speaks the
control protocol to a real router."""
import os
import subprocess
import sys
import threading
import time

from vforward.control import ControlClient

CONFIG = ("InfiniteSource(LIMIT 5) -> c :: Counter -> Discard;\n"
          "cs :: ControlSocket(unix, {path});\n")


class PipeStream:
    """A relay process's stdin and stdout as the byte stream ControlClient.over() takes."""

    def __init__(self, proc):
        self.proc = proc

    def sendall(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def makefile(self, mode):
        return self.proc.stdout

    def close(self):
        self.proc.stdin.close()


def relay(env, *args):
    return subprocess.Popen([sys.executable, "-m", "vforward", "node", "relay", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def test_a_client_reads_and_writes_handlers_through_the_relay(make_router, tmp_path):
    path = str(tmp_path / "control.sock")
    router = make_router(CONFIG.format(path=path))
    thread = threading.Thread(target=lambda: router.run(duration=20), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)
        # the default socket: $VFORWARD_RUN_DIR/control.sock, where `node run` puts it
        proc = relay(dict(os.environ, VFORWARD_RUN_DIR=str(tmp_path)))
        client = ControlClient.over(PipeStream(proc))
        assert client.protocol.startswith("Click::ControlSocket/")
        deadline = time.monotonic() + 5
        while client.read("c.count") != "5" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.read("c.count") == "5"
        client.write("c.reset")
        assert client.read("c.count") == "0"
        client.close()          # QUIT: the router closes, the relay ends
        assert proc.wait(timeout=10) == 0
    finally:
        router.loop.call_soon_threadsafe(router.stop)
        thread.join(5)


def test_a_missing_control_socket_is_named(tmp_path):
    proc = relay(dict(os.environ), "--control", str(tmp_path / "none.sock"))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"cannot reach the node's control socket {tmp_path / 'none.sock'}" in err.decode()
    assert "Traceback" not in err.decode()
