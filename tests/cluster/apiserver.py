"""A stand-in for the Kubernetes API server, on 127.0.0.1, for the tests of
`topo deploy --k8s` and of the lab commands on a lab deployed so.

It keeps the core/v1 objects it is sent (by path), answers the JSON the
official client reads, lists and watches pods, and serves the exec
subresource over a real WebSocket (v4.channel.k8s.io: stdin on channel 0,
stdout 1, stderr 2, the exit status 3).  Every request is recorded.

Pods are Ready unless named in `stuck`, or, once `emulate(namespace)` has
started them (see podemulation.py: every Pod's command in its own network
and mount namespaces), when their readiness probe passes; exec in such a pod
runs the command inside its namespaces with the container's environment and
capabilities.  Without an emulation exec answers "ran: COMMAND" (exit 3 when
the command's last word is "fail").

No real API server was run: what this server answers is what the client
needs, from the API's documented shapes, not a full implementation.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import pty
import struct
import subprocess
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WATCH_PERIOD = 0.2      # seconds between looks at the emulated pods' readiness


def ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One unmasked (server to client) WebSocket frame."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 127]) + struct.pack("!Q", n)
    return head + payload


def ws_read(rfile) -> tuple[int, bytes] | None:
    """(opcode, payload) of one client frame (masked, as clients send them); None at EOF."""
    head = rfile.read(2)
    if len(head) < 2:
        return None
    opcode, n = head[0] & 0x0F, head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", rfile.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", rfile.read(8))[0]
    mask = rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    data = rfile.read(n)
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class StandInApi(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _record(self, body=None):
        url = urlsplit(self.path)
        self.server.calls.append({"method": self.command, "path": url.path,
                                  "query": parse_qs(url.query), "body": body,
                                  "auth": self.headers.get("Authorization")})
        return url

    def _reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code, reason, message):
        self._reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "reason": reason, "message": message, "code": code})

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_POST(self):
        body = self._body()
        url = self._record(body)
        path = f"{url.path}/{body['metadata']['name']}"
        if path in self.server.objects:
            return self._status(409, "AlreadyExists", f"{path} already exists")
        self.server.objects[path] = body
        self._reply(201, body)

    def do_PUT(self):
        body = self._body()
        url = self._record(body)
        self.server.objects[url.path] = body
        self._reply(200, body)

    def do_PATCH(self):
        url = self._record(self._body())
        self._reply(200, self.server.objects[url.path])

    def do_DELETE(self):
        url = self._record(self._body())
        gone = [p for p in self.server.objects if p == url.path or p.startswith(url.path + "/")]
        if not gone:
            return self._status(404, "NotFound", f"{url.path} not found")
        deleted = self.server.objects[url.path]
        for p in gone:
            del self.server.objects[p]
        if deleted["kind"] == "Pod":       # a Pod's deletion answers with the Pod
            return self._reply(200, deleted)
        self._reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

    def do_GET(self):
        url = self._record()
        query = parse_qs(url.query)
        if url.path.endswith("/exec"):
            return self._exec(url.path.split("/")[-2], query)
        if url.path.endswith("/pods"):
            namespace = url.path.split("/")[-2]
            if self.server.on_pods_listed is not None:
                self.server.on_pods_listed(namespace)
            if query.get("watch", [""])[0] in ("true", "1"):
                return self._watch(url.path, int(query.get("timeoutSeconds", ["30"])[0]))
            return self._reply(200, {"kind": "PodList", "apiVersion": "v1",
                                     "metadata": {"resourceVersion": "10"},
                                     "items": self._pods(url.path)})
        if url.path in self.server.objects:
            obj = self.server.objects[url.path]
            return self._reply(200, dict(obj, metadata=dict(obj["metadata"],
                                                            resourceVersion="7")))
        self._status(404, "NotFound", f"{url.path} not found")

    # -- pods ----------------------------------------------------------------------------
    def _pods(self, prefix):
        return [dict(o, status=self._pod_status(o["metadata"]["name"]))
                for p, o in list(self.server.objects.items())
                if p.startswith(prefix + "/") and p.count("/") == prefix.count("/") + 1]

    def _pod_status(self, name):
        if name in self.server.stuck:
            return {"phase": "Pending", "containerStatuses": [{
                "name": "node", "image": "vf", "imageID": "", "ready": False,
                "restartCount": 0, "state": {"waiting": {
                    "reason": "ImagePullBackOff", "message": "pull access denied"}}}]}
        emu = self.server.emulation
        if emu is not None and name in emu.procs:
            ready = emu.procs[name].poll() is None and emu.ready(name)
            return {"phase": "Running", "podIP": emu.address[name],
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                    "containerStatuses": [{"name": "node", "image": "vf", "imageID": "",
                                           "ready": ready, "restartCount": 0,
                                           "state": {"running": {}}}]}
        return {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}

    def _watch(self, prefix, timeout):
        """A watch: ADDED for every pod, then MODIFIED when its readiness changes,
        until timeoutSeconds; one event a chunk, as the API server streams them."""
        self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        sent = {}
        end = time.monotonic() + timeout
        try:
            while True:
                for pod in self._pods(prefix):
                    name = pod["metadata"]["name"]
                    if sent.get(name) != pod["status"]:
                        kind = "ADDED" if name not in sent else "MODIFIED"
                        line = json.dumps({"type": kind, "object": pod}).encode() + b"\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                        sent[name] = pod["status"]
                if time.monotonic() > end:
                    self.wfile.write(b"0\r\n\r\n")
                    return
                time.sleep(WATCH_PERIOD)
        except (BrokenPipeError, ConnectionResetError):
            return      # the client stopped watching

    # -- exec --------------------------------------------------------------------------------
    def _upgrade(self):
        accept = base64.b64encode(hashlib.sha1(
            (self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True

    def _exec(self, pod, query):
        command = query["command"]
        self._upgrade()
        emu = self.server.emulation
        if emu is None or pod not in emu.procs:
            code = 3 if command[-1] == "fail" else 0
            self._finish([(1, b"ran: " + " ".join(command).encode() + b"\n")], code)
            return
        argv, env = emu.exec_command(pod, command)
        stdin = query.get("stdin", ["false"])[0] in ("true", "1")
        if query.get("tty", ["false"])[0] in ("true", "1"):
            return self._exec_terminal(argv, env)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        lock = threading.Lock()

        def send(channel, data):
            with lock:
                self.wfile.write(ws_frame(bytes([channel]) + data))
                self.wfile.flush()

        def pump(pipe, channel):
            while data := pipe.read1(65536):
                try:
                    send(channel, data)
                except OSError:
                    return

        def feed():     # the client's frames: stdin, or a close that ends it
            try:
                while (frame := ws_read(self.rfile)) is not None:
                    opcode, data = frame
                    if opcode == 0x8:
                        break
                    if opcode in (0x1, 0x2) and data[:1] == b"\0" and proc.stdin:
                        proc.stdin.write(data[1:])
                        proc.stdin.flush()
            except (OSError, ValueError):
                pass
            if proc.stdin:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        pumps = [threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True),
                 threading.Thread(target=pump, args=(proc.stderr, 2), daemon=True)]
        for t in pumps + [threading.Thread(target=feed, daemon=True)]:
            t.start()
        code = proc.wait()
        for t in pumps:
            t.join()
        with lock:
            self._finish([], code)

    def _exec_terminal(self, argv, env):
        """exec with tty=true: the command on a pseudo-terminal, its output on channel 1;
        channel 4 (resize) sets the terminal's size."""
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True)
        os.close(slave)
        lock = threading.Lock()
        self.server.resizes = []

        def pump():
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:     # EIO: the terminal's last user has gone
                    return
                if not data:
                    return
                with lock:
                    self.wfile.write(ws_frame(b"\x01" + data))
                    self.wfile.flush()

        def feed():
            try:
                while (frame := ws_read(self.rfile)) is not None:
                    opcode, data = frame
                    if opcode == 0x8:
                        return
                    if data[:1] == b"\0":
                        os.write(master, data[1:])
                    elif data[:1] == b"\4":
                        size = json.loads(data[1:])
                        self.server.resizes.append(size)
                        fcntl.ioctl(master, termios.TIOCSWINSZ,
                                    struct.pack("HHHH", size["Height"], size["Width"], 0, 0))
            except (OSError, ValueError):
                pass

        out = threading.Thread(target=pump, daemon=True)
        out.start()
        threading.Thread(target=feed, daemon=True).start()
        code = proc.wait()
        out.join(5)
        os.close(master)
        with lock:
            self._finish([], code)

    def _finish(self, output, code):
        status = ({"status": "Success"} if code == 0 else
                  {"status": "Failure", "reason": "NonZeroExitCode",
                   "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}})
        try:
            for channel, data in output:
                self.wfile.write(ws_frame(bytes([channel]) + data))
            self.wfile.write(ws_frame(b"\x03" + json.dumps(status).encode()))
            self.wfile.write(ws_frame(struct.pack("!H", 1000), opcode=0x8))
            self.wfile.flush()
        except OSError:
            pass


def start_api(kubeconfig_path) -> ThreadingHTTPServer:
    """The stand-in on a free port, and a kubeconfig naming it (context lab-cluster)
    and an unreachable cluster (context unreachable, the current one)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInApi)
    server.daemon_threads = True
    server.calls, server.objects, server.stuck = [], {}, set()
    server.emulation, server.on_pods_listed = None, None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig_path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "unreachable",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}},
                     {"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "lab-token"}}],
        "contexts": [{"name": "lab-cluster", "context": {"cluster": "fake", "user": "u"}},
                     {"name": "unreachable", "context": {"cluster": "dead", "user": "u"}}]}))
    return server


def stop_api(server) -> None:
    server.shutdown()
    server.server_close()
