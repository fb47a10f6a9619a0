"""The control socket: Click's ControlSocket protocol against a running router.

Every test talks to a real router over real sockets: the router runs in a
background thread, the test is the client."""
import os
import socket
import stat
import threading
import time
import warnings

import pytest

from vforward.control import (GREETING, ControlClient, ControlError, ControlServer,
                              ControlSocketError, parse_control_address)
from vforward.element import Element, ElementError, HandlerError, read_handler, write_handler

PIPELINE = "InfiniteSource -> c :: Counter -> q :: Queue(100) -> Unqueue -> Discard;\n"


class ControlProbe(Element):
    """ControlProbe -- handlers for exercising the control socket (tests only)

    Ports: none.
    """
    PORTS = "0/0"

    def configure(self, args):
        args.finish()
        self.stored = ""

    @read_handler("echo")
    def read_echo(self, arg):
        return f"<{arg}>"

    @read_handler("stored")
    def read_stored(self):
        return self.stored

    @write_handler("stored")
    def write_stored(self, value):
        self.stored = value

    @write_handler("refuse")
    def write_refuse(self, value):
        raise HandlerError(f"'{value}' is not acceptable; send a route such as 10.0.0.0/8")

    @write_handler("warn")
    def write_warn(self, value):
        warnings.warn("value clamped to 100")

    @read_handler("broken")
    def read_broken(self):
        raise RuntimeError("bug in element")


# -- helpers -----------------------------------------------------------------

class Running:
    """A router running in a thread; stopped and joined by the fixture."""

    def __init__(self, router, thread, result, path):
        self.router, self.thread, self.result, self.path = router, thread, result, path

    def stop(self):
        if self.thread.is_alive():
            self.router.loop.call_soon_threadsafe(self.router.stop)
            self.thread.join(5)
        assert not self.thread.is_alive(), "router did not stop"


def wait_connect(address, timeout=5.0):
    """A client, once the router thread has opened its socket."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ControlClient(address, timeout=5.0)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@pytest.fixture
def start_router(make_router, tmp_path):
    """start_router(extra_config="", control="") -> Running; the pipeline plus a
    ControlSocket on tmp_path/ctl.sock, running in a thread for up to 20 s."""
    started = []

    def start(extra="", control=None):
        path = str(tmp_path / "ctl.sock")
        if control is None:
            control = f"cs :: ControlSocket(unix, {path});\n"
        router = make_router(PIPELINE + control + extra)
        result = []
        thread = threading.Thread(target=lambda: result.append(router.run(duration=20)),
                                  daemon=True)
        running = Running(router, thread, result, path)
        started.append(running)
        thread.start()
        return running
    yield start
    for r in started:
        r.stop()


@pytest.fixture
def client(start_router):
    running = start_router("probe :: ControlProbe;\n")
    with wait_connect(running.path) as c:
        yield c


def raw_connect(path, timeout=5.0):
    """A plain socket after the greeting has been read and checked."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5.0)
        try:
            s.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    f = s.makefile("rb")
    assert f.readline() == (GREETING + "\r\n").encode()
    return s, f


# -- the protocol ------------------------------------------------------------------

def test_greeting_line_names_protocol_version_1_3(start_router):
    running = start_router()
    s, f = raw_connect(running.path)
    s.close()
    assert GREETING == "Click::ControlSocket/1.3"


def test_read_counter_count_grows_while_traffic_flows(client):
    first = int(client.read("c.count"))
    deadline = time.monotonic() + 5
    while int(client.read("c.count")) <= first:
        assert time.monotonic() < deadline, "counter did not grow"
        time.sleep(0.01)


def test_read_reply_is_200_then_data_with_exact_length(start_router):
    running = start_router()
    s, f = raw_connect(running.path)
    s.sendall(b"READ q.capacity\r\n")
    assert f.readline() == b"200 Read handler 'q.capacity' OK\r\n"
    assert f.readline() == b"DATA 3\r\n"
    assert f.read(3) == b"100"
    s.close()


def test_write_queue_capacity_then_read_it_back(client):
    reply = client.request("WRITE q.capacity 500")
    assert reply.code == 200 and reply.message == "Write handler 'q.capacity' OK"
    assert client.read("q.capacity") == "500"


def test_readdata_passes_the_bytes_after_the_line_as_argument(client):
    reply = client.request("READDATA probe.echo 11", b"two\r\nlines ")
    assert reply.code == 200 and reply.data == b"<two\r\nlines >"
    assert client.read("probe.echo", "a b") == "<a b>"
    assert client.request("READ probe.echo  x   y ").data == b"<x   y>"


def test_writedata_passes_exact_bytes_including_newlines(client):
    value = "route 10.0.0.0/8 1\nroute 0.0.0.0/0 2\n"
    reply = client.request(f"WRITEDATA probe.stored {len(value)}", value)
    assert reply.code == 200
    assert client.read("probe.stored") == value
    client.write("probe.stored", "ünïcode")
    assert client.read("probe.stored") == "ünïcode"


def test_readuntil_and_writeuntil_take_lines_up_to_the_terminator(client):
    assert client.request("WRITEUNTIL probe.stored END", "a\nb\nEND  \n").code == 200
    assert client.read("probe.stored") == "a\nb\n"
    assert client.request("READUNTIL probe.echo", "x\n\n").data == b"<x\n>"


def test_checkread_and_checkwrite_report_what_a_handler_allows(client):
    assert client.request("CHECKREAD c.count").code == 200
    assert client.request("CHECKWRITE q.capacity").code == 200
    reply = client.request("CHECKWRITE c.count")
    assert reply.code == 511 and "not writable" in reply.message
    assert client.request("CHECKREAD c.reset").code == 511
    assert client.request("CHECKREAD nope.count").code == 510
    assert client.check_read("list") and not client.check_write("list")


def test_line_endings_lf_crlf_and_cr_are_all_accepted(start_router):
    running = start_router()
    s, f = raw_connect(running.path)
    s.sendall(b"CHECKREAD c.count\nCHECKREAD q.length\rCHECKREAD q.drops\r\n")
    assert [f.readline()[:4] for _ in range(3)] == [b"200 "] * 3
    s.sendall(b"READ q.capacity\r")    # a CRLF split across two sends ...
    assert f.readline().startswith(b"200 ")
    assert f.readline() == b"DATA 3\r\n" and f.read(3) == b"100"
    s.sendall(b"\nQUIT\r\n")            # ... is one line end, not an empty command
    assert f.readline() == b"200 Goodbye!\r\n"
    s.close()


def test_pipelined_commands_in_one_send_get_replies_in_order(client):
    client._sock.sendall(b"READ q.capacity\r\nWRITE q.capacity 7\r\nREAD q.capacity\r\n")
    assert client._reply("READ").data == b"100"
    assert client._reply("WRITE").code == 200
    assert client._reply("READ").data == b"7"


# -- errors ------------------------------------------------------------------------

def test_syntax_errors_are_500(client):
    assert client.request("READ").code == 500
    assert client.request("WRITEDATA probe.stored many").code == 500
    assert client.request("CHECKREAD a b").code == 500
    assert client.request("READ c.count").code == 200     # the connection goes on


def test_unknown_command_is_501(client):
    reply = client.request("FROBNICATE c.count")
    assert reply.code == 501 and "FROBNICATE" in reply.message


def test_unknown_element_is_510_with_a_suggestion(client):
    reply = client.request("READ probee.stored")
    assert reply.code == 510
    assert reply.message == "No element named 'probee'; did you mean 'probe'?"
    with pytest.raises(ControlError) as e:
        client.read("qq.length")
    assert e.value.code == 510 and "did you mean 'q'?" in e.value.message


def test_unknown_handler_is_511_with_a_suggestion(client):
    reply = client.request("READ c.cuont")
    assert reply.code == 511 and "did you mean 'c.count'?" in reply.message
    assert client.request("READ lst").message.endswith("did you mean 'list'?")
    assert "'c' is an element" in client.request("READ c").message


def test_handler_error_is_520_with_the_handlers_message(client):
    with pytest.raises(ControlError) as e:
        client.write("q.capacity", "lots")
    assert e.value.code == 520 and "lots" in e.value.message
    reply = client.request("WRITE probe.refuse 1.2.3")
    assert reply.code == 520
    assert reply.lines == ["Write handler 'probe.refuse' error:",
                           "'1.2.3' is not acceptable; send a route such as 10.0.0.0/8"]
    assert client.request("READ probe.broken").code == 520
    assert client.read("c.count")      # a failing handler leaves the router running


def test_handler_warning_is_220(client):
    reply = client.request("WRITE probe.warn 500")
    assert reply.code == 220 and reply.lines[-1] == "value clamped to 100"


def test_writing_a_read_only_handler_is_530(client):
    reply = client.request("WRITE c.count 5")
    assert reply.code == 530 and "read-only" in reply.message
    assert client.request("READ c.reset").code == 530


def test_readonly_socket_refuses_writes_with_530_but_reads(start_router, tmp_path):
    ro = str(tmp_path / "ro.sock")
    start_router(f"ro :: ControlSocket(unix, {ro}, READONLY true);\n")
    with wait_connect(ro) as c:
        reply = c.request("WRITE q.capacity 5")
        assert reply.code == 530 and "READONLY" in reply.message
        assert c.request("WRITE stop").code == 530
        assert c.request("CHECKWRITE q.capacity").code == 530
        assert c.read("q.capacity") == "100"


# -- connections -------------------------------------------------------------------

def test_two_clients_at_once_while_a_third_stalls_mid_line(start_router):
    running = start_router()
    a = wait_connect(running.path)
    b = wait_connect(running.path)
    stall, _ = raw_connect(running.path)
    stall.sendall(b"READDATA q.capacity 1000\r\nonly a few bytes")   # never finishes
    a.write("q.capacity", "300")
    assert b.read("q.capacity") == "300"
    b.write("q.capacity", "400")
    assert a.read("q.capacity") == "400"
    assert int(a.read("c.count")) > 0 and int(b.read("c.count")) > 0
    a.close()
    b.close()
    stall.close()


def test_a_client_that_never_reads_its_replies_holds_up_nobody(start_router):
    running = start_router()
    flood, _ = raw_connect(running.path)
    flood.setblocking(False)
    sent = 0
    try:
        while sent < 4_000_000:        # until the kernel's buffers both ways are full
            sent += flood.send(b"READ flatconfig\r\n" * 1000)
    except BlockingIOError:
        pass
    with wait_connect(running.path) as c:
        c.write("q.capacity", "250")
        assert c.read("q.capacity") == "250"
    flood.close()


def test_quit_says_goodbye_and_closes(start_router):
    running = start_router()
    s, f = raw_connect(running.path)
    s.sendall(b"QUIT\r\n")
    assert f.readline() == b"200 Goodbye!\r\n"
    assert f.readline() == b""     # EOF
    s.close()


def test_help_lists_the_commands(client):
    reply = client.request("HELP")
    assert reply.code == 200 and any(line.startswith("READDATA") for line in reply.lines)


def test_verbose_reports_connections(start_router, tmp_path, capfd):
    path = str(tmp_path / "v.sock")
    running = start_router(f"v :: ControlSocket(unix, {path}, VERBOSE true);\n")
    wait_connect(path).close()
    running.stop()
    err = capfd.readouterr().err
    assert "v: opened connection" in err and "v: closed connection" in err


def test_unix_socket_file_has_mode_0600_and_is_removed_at_exit(start_router):
    running = start_router()
    wait_connect(running.path).close()
    assert stat.S_IMODE(os.stat(running.path).st_mode) == 0o600
    running.stop()
    assert running.result == [0]
    assert not os.path.exists(running.path)


def test_mode_keyword_sets_the_socket_permissions(start_router, tmp_path):
    path = str(tmp_path / "grp.sock")
    start_router(f"g :: ControlSocket(unix, {path}, MODE 0660);\n")
    wait_connect(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660


def test_stale_socket_file_is_replaced(start_router, tmp_path):
    path = str(tmp_path / "ctl.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)       # a socket file nobody listens on
    dead.close()
    running = start_router()
    with wait_connect(running.path) as c:
        assert c.read("q.capacity") == "100"


def test_a_regular_file_in_the_way_is_refused_not_deleted(make_router, tmp_path):
    path = tmp_path / "ctl.sock"
    path.write_text("precious")
    router = make_router(PIPELINE + f"cs :: ControlSocket(unix, {path});\n")
    with pytest.raises(ElementError, match="cs :: ControlSocket: .*not a socket"):
        router.initialize()
    assert path.read_text() == "precious"


def test_a_live_socket_is_refused(start_router, make_router, tmp_path):
    running = start_router()
    wait_connect(running.path).close()
    second = make_router(PIPELINE + f"cs :: ControlSocket(unix, {running.path});\n")
    with pytest.raises(ElementError, match="another program is listening"):
        second.initialize()
    with wait_connect(running.path) as c:      # the first router still answers
        assert c.read("q.capacity") == "100"


def test_tcp_on_localhost_with_port_0_exposes_the_bound_port(start_router):
    running = start_router(control="t :: ControlSocket(tcp, 0);\n")
    deadline = time.monotonic() + 5
    while running.router.element("t").server is None or not running.router.element("t").server.port:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    server = running.router.element("t").server
    assert server.host == "127.0.0.1" and server.port > 0
    with wait_connect(f"127.0.0.1:{server.port}") as c:
        assert c.read("t.address") == f"127.0.0.1:{server.port}"
        assert c.read("c.count")


def test_unix_socket_file_is_owned_by_the_router_user_root_in_a_lab(start_router):
    running = start_router()
    wait_connect(running.path).close()
    st = os.stat(running.path)
    assert st.st_uid == os.geteuid() and st.st_gid == os.getegid()
    if os.geteuid() == 0:      # labs run as root: the socket is root's alone
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600


def test_unix_socket_is_born_owner_only_even_under_a_permissive_umask(make_router, tmp_path):
    router = make_router(PIPELINE)
    path = str(tmp_path / "u.sock")
    old = os.umask(0)
    try:
        server = ControlServer(router, path=path)
        server.bind()
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert os.umask(old) == old        # the process umask is left as it was
    finally:
        server.close()


def wait_port(running, name):
    deadline = time.monotonic() + 5
    while running.router.element(name).server is None or \
            running.router.element(name).server._server is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return running.router.element(name).server


def test_tcp_control_socket_binds_loopback_by_default_and_says_so(start_router, capfd):
    running = start_router(control="t :: ControlSocket(tcp, 0);\n")
    server = wait_port(running, "t")
    assert server._sock.getsockname()[0] == "127.0.0.1"
    err = capfd.readouterr().err
    assert f"t: listening on TCP 127.0.0.1:{server.port} (loopback only" in err


def test_tcp_control_socket_on_every_address_warns_it_is_reachable(start_router, capfd):
    running = start_router(control="t :: ControlSocket(tcp, 0, LOCALHOST false);\n")
    server = wait_port(running, "t")
    assert server._sock.getsockname()[0] == "0.0.0.0"
    err = capfd.readouterr().err
    assert f"t: listening on TCP 0.0.0.0:{server.port}, reachable from other machines" in err


def test_run_control_tcp_port_alone_listens_on_loopback_and_says_so(tmp_path):
    import subprocess
    import sys
    cfg = tmp_path / "r.click"
    cfg.write_text("Idle -> Discard;\n")
    p = subprocess.run([sys.executable, "-m", "vforward", "run", str(cfg), "--control", "tcp:0",
                        "--duration", "0.3"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "control: listening on TCP 127.0.0.1:" in p.stderr and "loopback only" in p.stderr


def test_type_may_be_written_in_capitals_as_click_does(make_router, tmp_path):
    router = make_router(PIPELINE + f"t :: ControlSocket(TCP, 0);\n"
                         f"u :: ControlSocket(UNIX, {tmp_path / 'u.sock'});\n")
    assert router.element("t").port == 0 and router.element("u").path.endswith("u.sock")


@pytest.mark.parametrize("args, says", [
    ("udp, 7777", "unknown socket type 'udp'; use unix or tcp"),
    ("tcp, 70000", "TCP port from 0 to 65535"),
    ("unix, /tmp/x.sock, MODE 0999", "octal"),
    ("tcp, 7777, LOCALHST false", "did you mean LOCALHOST"),
])
def test_bad_arguments_are_explained(make_router, args, says):
    from vforward.graph import GraphError
    with pytest.raises(GraphError, match=says):
        make_router(f"cs :: ControlSocket({args});")


def test_two_control_sockets_on_one_path_are_refused(make_router):
    from vforward.graph import GraphError
    with pytest.raises(GraphError, match="already uses"):
        make_router("a :: ControlSocket(unix, /tmp/one.sock); b :: ControlSocket(unix, /tmp/one.sock);")


def test_control_server_in_router_listeners_serves_like_the_element(make_router):
    """How `vforward run --control tcp:0` attaches a socket without an element."""
    router = make_router(PIPELINE)
    server = ControlServer(router, **parse_control_address("tcp:0"))
    router.listeners.append(server)
    server.bind()
    thread = threading.Thread(target=router.run, kwargs={"duration": 20}, daemon=True)
    thread.start()
    try:
        with wait_connect({"host": "127.0.0.1", "port": server.port}) as c:
            c.write("stop")
        thread.join(5)
        assert not thread.is_alive()
    finally:
        if thread.is_alive():
            router.loop.call_soon_threadsafe(router.stop)
            thread.join(5)


# -- global handlers -----------------------------------------------------------------

def test_global_list_gives_the_count_then_element_names(client):
    lines = client.read("list").splitlines()
    assert int(lines[0]) == len(lines) - 1
    assert {"c", "q", "cs", "probe"} <= set(lines[1:])


def test_global_config_flatconfig_classes_version(client):
    assert "ControlSocket(unix" in client.read("config")
    flat = client.read("flatconfig")
    assert "q :: Queue(100);" in flat and "c [0] -> [0] q;" in flat
    assert "Counter" in client.read("classes").splitlines()
    from vforward import __version__
    assert client.read("version") == __version__
    assert "stop\tw" in client.read("handlers")
    assert client.read(".list") == client.read("list")
    n = client.read("list").splitlines().index("q")    # Click's N.handler: the Nth element
    assert client.read(f"{n}.capacity") == "100"


def test_base_class_handlers_are_readable(client):
    assert client.read("q.class") == "Queue"
    assert client.read("q.config") == "100"
    assert "capacity\trw" in client.read("q.handlers")


def test_global_stop_ends_router_run(start_router):
    running = start_router()
    with wait_connect(running.path) as c:
        reply = c.request("WRITE stop")
        assert reply.code == 200
    running.thread.join(5)
    assert not running.thread.is_alive() and running.result == [0]
    assert not os.path.exists(running.path)


def test_client_reports_a_router_that_went_away(start_router):
    running = start_router()
    c = wait_connect(running.path)
    c.write("stop")
    running.thread.join(5)
    with pytest.raises(OSError):
        c.read("c.count")
    c.close()


# -- addresses ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("/run/vf.sock", {"path": "/run/vf.sock"}),
    ("vf.sock", {"path": "vf.sock"}),
    ("unix:rel:name", {"path": "rel:name"}),
    ("tcp:7777", {"host": "127.0.0.1", "port": 7777}),
    ("TCP:0", {"host": "127.0.0.1", "port": 0}),
    ("tcp:0.0.0.0:7777", {"host": "0.0.0.0", "port": 7777}),
    ("10.1.2.3:80", {"host": "10.1.2.3", "port": 80}),
    ("localhost:9000", {"host": "localhost", "port": 9000}),
    ("[::1]:7777", {"host": "::1", "port": 7777}),
])
def test_parse_control_address_forms(text, expected):
    assert parse_control_address(text) == expected


@pytest.mark.parametrize("text, says", [
    ("", "empty"),
    ("7777", "tcp:7777"),
    ("tcp:", "no port"),
    ("tcp:http", "not a number"),
    ("host:99999", "not a number"),
    (":80", "no host"),
    ("::1:80", "brackets"),
    ("/" + "x" * 200, "longer than"),
])
def test_parse_control_address_rejects_bad_input_clearly(text, says):
    with pytest.raises(ValueError, match=says):
        parse_control_address(text)


def test_listener_bind_failure_is_a_control_socket_error(tmp_path):
    """`vforward run --control PATH` has no element to blame: the error names the socket."""
    (tmp_path / "f").write_text("x")
    server = ControlServer(None, path=str(tmp_path / "f"))
    with pytest.raises(ControlSocketError, match="not a socket is in the way; remove it"):
        server.bind()


def test_server_needs_exactly_one_of_path_and_port():
    with pytest.raises(ValueError):
        ControlServer(None)
    with pytest.raises(ValueError):
        ControlServer(None, path="/tmp/x", port=1)
