"""configs/examples/ipsec-tunnel.click on real namespaces and TAPs: a ping from
host A to host B crosses the ESP tunnel between the two gateways, and only
ESP crosses the wire between them.

The router runs as `vforward run` in a subprocess (it owns both TAPs) and is
stopped, and the namespaces deleted, even when the test fails.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.control import ControlClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "examples", "ipsec-tunnel.click")


@pytest.fixture
def tunnel(netns, tmp_path):
    if shutil.which("ping") is None:
        pytest.skip("ping is not installed")
    a, b = netns("ipa"), netns("ipb")
    for space in (a, b):
        ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1")
    tag = uuid.uuid4().hex[:6]
    ctl = str(tmp_path / "ipsec.sock")
    log = open(tmp_path / "router.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vforward", "run", CONFIG, f"NSA={a}", f"NSB={b}",
         f"DEVA=via{tag}", f"DEVB=vib{tag}", f"CTL={ctl}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def output():
        log.flush()
        log.seek(0)
        return log.read()

    def read(handler):
        with ControlClient(ctl) as c:
            return c.read(handler)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the router exited ({proc.returncode}):\n{output()}")
            with contextlib.suppress(OSError):
                read("rta.sas")
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the control socket did not answer:\n{output()}")
            time.sleep(0.05)
        yield a, read, output
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@pytest.mark.netns
def test_a_ping_crosses_the_esp_tunnel_and_only_esp_crosses_the_wire(tunnel):
    a, read, output = tunnel
    ping = ns.run(a, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.2.0.2", check=False)
    assert "3 received" in ping.stdout, ping.stdout + output()
    # Three echo requests went through SA 234 from A, three replies from B.
    assert read("rta.sas").startswith("SPI 234 next_seq 4 highest 3 ")
    assert read("rtb.sas").startswith("SPI 234 next_seq 4 highest 3 ")
    assert (read("ab.count"), read("ba.count"), read("plain.count")) == ("3", "3", "0")
