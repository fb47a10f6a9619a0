"""FTPPortMapper and TCPRewriter on real namespaces: an active-mode FTP-like
exchange through the NAT, between real Linux TCP stacks.

    client namespace                  vforward                  server namespace
    10.0.0.2 --TAP-- 10.0.0.1 [FTPPortMapper -> TCPRewriter] 198.51.100.1 --TAP-- 198.51.100.2

The client listens for the data connection on 10.0.0.2:5000 and says so in
a PORT command; the server must get a PORT naming the NAT's address,
connect there from its port 2120 (the control port less one), and reach the
client.  The commands after PORT, both ways, only arrive when the control
connection's sequence and acknowledgement numbers are shifted by the PORT
command's change of length: Linux drops an acknowledgement of bytes never
sent, and trims bytes it already has.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from vforward import netns as ns

pytestmark = pytest.mark.netns

NAT, SERVER, CLIENT, GW = "198.51.100.1", "198.51.100.2", "10.0.0.2", "10.0.0.1"
CONTROL_PORT = 2121

CONFIG = """
priv :: KernelTap(10.0.0.2/24, GATEWAY 10.0.0.1, NETNS $PRIV_NS, DEVNAME $PRIV_DEV);
pub :: KernelTap(198.51.100.2/24, NETNS $PUB_NS, DEVNAME $PUB_DEV);

priv_cl, pub_cl :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
priv_arpq :: ARPQuerier(10.0.0.1, 02:00:0a:00:00:01);
pub_arpq :: ARPQuerier(198.51.100.1, 02:00:c6:33:64:01);
priv -> priv_cl;
priv_cl[0] -> ARPResponder(10.0.0.1 02:00:0a:00:00:01) -> priv;
priv_cl[1] -> [1]priv_arpq;
priv_cl[3] -> Discard;
priv_arpq -> priv;
pub -> pub_cl;
pub_cl[0] -> ARPResponder(198.51.100.1 02:00:c6:33:64:01) -> pub;
pub_cl[1] -> [1]pub_arpq;
pub_cl[3] -> Discard;
pub_arpq -> pub;

// the control connection through ctl, its data connections through rw (mazu-nat's split)
ctl :: TCPRewriter(pattern 198.51.100.1 1024-65535 - - 0 1, drop);
rw :: IPRewriter(pattern 198.51.100.1 1024-65535 - - 0 1, drop);
to_pub :: LookupIPRoute(198.51.100.0/24 0) -> [0]pub_arpq;
to_priv :: LookupIPRoute(10.0.0.0/24 0) -> [0]priv_arpq;
ctl[0] -> to_pub; rw[0] -> to_pub;
ctl[1] -> to_priv; rw[1] -> to_priv;

priv_cl[2] -> Strip(14) -> CheckIPHeader
    -> from_priv :: IPClassifier(dst host 10.0.0.1, tcp dst port 2121, -);
from_priv[0] -> Discard;
from_priv[1] -> ftp :: FTPPortMapper(ctl, rw, 0) -> [0]ctl;
from_priv[2] -> [0]rw;

pub_cl[2] -> Strip(14) -> CheckIPHeader
    -> from_pub :: IPClassifier(dst host 198.51.100.1 and tcp src port 2121,
                                dst host 198.51.100.1, -);
from_pub[0] -> [1]ctl;
from_pub[1] -> [1]rw;
from_pub[2] -> Discard;
"""

SERVER_SCRIPT = f"""
import json, socket
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("{SERVER}", {CONTROL_PORT})); ls.listen(1); ls.settimeout(15)
print("ready", flush=True)
c, peer = ls.accept(); c.settimeout(10); f = c.makefile("rb")
port_line = f.readline().decode()
nums = [int(x) for x in port_line.split()[1].split(",")]
d = socket.socket(); d.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
d.bind(("{SERVER}", {CONTROL_PORT - 1})); d.settimeout(10)
d.connect((".".join(map(str, nums[:4])), nums[4] * 256 + nums[5]))
d.sendall(b"file contents\\n"); d.close()
c.sendall(b"200 PORT command successful\\r\\n")
after = f.readline().decode()
c.sendall(b"221 Goodbye\\r\\n"); c.close()
print(json.dumps(dict(peer=peer[0], port_line=port_line, after=after)), flush=True)
"""

CLIENT_SCRIPT = f"""
import json, socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("{CLIENT}", 5000)); l.listen(1); l.settimeout(10)
c = socket.create_connection(("{SERVER}", {CONTROL_PORT}), timeout=10); f = c.makefile("rb")
c.sendall(b"PORT 10,0,0,2,19,136\\r\\n")
d, peer = l.accept(); d.settimeout(10)
data = d.makefile("rb").read().decode()
reply = f.readline().decode()
c.sendall(b"NOOP after the port command\\r\\n")
bye = f.readline().decode()
print(json.dumps(dict(data_peer=list(peer), data=data, reply=reply, bye=bye)), flush=True)
"""


@pytest.fixture
def nat(make_router, netns, running):
    priv, pub = netns("fp"), netns("fq")
    for space in (priv, pub):
        ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    tag = uuid.uuid4().hex[:6]
    router = make_router(CONFIG, defines=dict(PRIV_NS=priv, PRIV_DEV=f"fpi{tag}",
                                              PUB_NS=pub, PUB_DEV=f"fpo{tag}"))
    with running(router):
        yield router, priv, pub


def _read(router, element, handler):
    import concurrent.futures
    fut = concurrent.futures.Future()
    router.loop.call_soon_threadsafe(
        lambda: fut.set_result(router.element(element).read(handler)))
    return fut.result(5)


def test_an_active_ftp_exchange_crosses_the_nat_with_its_port_command_rewritten(nat):
    router, priv, pub = nat
    server = ns.popen(pub, sys.executable, "-c", SERVER_SCRIPT, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
        client = ns.run(priv, sys.executable, "-c", CLIENT_SCRIPT, timeout=40, check=False)
        assert client.returncode == 0, client.stderr
        seen = json.loads(server.stdout.readline())
    finally:
        server.kill()
        server.wait(10)
    got = json.loads(client.stdout)
    # the server only ever saw the NAT, and was told the NAT's address and a mapped port
    assert seen["peer"] == NAT
    words = seen["port_line"].split()
    assert words[0] == "PORT" and seen["port_line"].endswith("\r\n")
    nums = [int(x) for x in words[1].split(",")]
    assert ".".join(map(str, nums[:4])) == NAT
    mapped = nums[4] * 256 + nums[5]
    # the data connection went through the NAT back to the client's listening port
    assert got["data"] == "file contents\n" and got["data_peer"] == [SERVER, CONTROL_PORT - 1]
    assert _read(router, "rw", "tcp_table").count(f"({CLIENT}, 5000, {SERVER}, "
                                                  f"{CONTROL_PORT - 1}) => ({NAT}, {mapped},") == 1
    # both directions of the control connection carried on past the longer command
    assert got["reply"] == "200 PORT command successful\r\n"
    assert seen["after"] == "NOOP after the port command\r\n"
    assert got["bye"] == "221 Goodbye\r\n"
    grew = len(words[1]) - len("10,0,0,2,19,136")
    assert f"seq +{grew}" in _read(router, "ctl", "tcp_table")
    assert _read(router, "ftp", "rewritten") == "1" and _read(router, "ftp", "malformed") == "0"
