"""`vforward doctor` and `vforward --version`: compiled kernels, kernel features and
tools, each missing one with how to get it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vforward import doctor, kernels
from vforward.cli import main


def test_doctor_lists_every_kernel_compiled_and_exits_0(capsys, monkeypatch):
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in kernels.KERNELS:
        line = next(l for l in out.splitlines() if l.split()[:1] == [name])
        assert line.split()[1] == "ok" and ".so" in line
    for section in ("compiled kernels:", "kernel features:", "tools:"):
        assert section in out


def test_version_says_the_kernels_are_compiled(capsys, monkeypatch):
    monkeypatch.delenv(kernels.ENV, raising=False)
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("vforward ")
    assert out[1].startswith(f"kernels: all {len(kernels.KERNELS)} compiled (")


def test_version_and_doctor_name_a_missing_kernel_and_exit_1():
    hide = ("import importlib.abc, sys\n"
            "class NotBuilt(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'vforward.cext.gso':\n"
            "            raise ModuleNotFoundError(\"No module named 'vforward.cext.gso'\")\n"
            "sys.meta_path.insert(0, NotBuilt())\n"
            "from vforward.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    v = subprocess.run([sys.executable, "-c", hide, "--version"], capture_output=True, text=True)
    from vforward.kernels import KERNELS
    assert f"kernels: 1 of {len(KERNELS)} NOT compiled (gso)" in v.stdout
    d = subprocess.run([sys.executable, "-c", hide, "doctor"], capture_output=True, text=True)
    assert d.returncode == 1
    gso = [l for l in d.stdout.splitlines() if l.split()[:2] == ["gso", "MISSING"]]
    assert gso and "No module named 'vforward.cext.gso'" in gso[0]
    assert "build_ext --inplace" in d.stdout


def test_a_tool_not_on_the_path_is_missing_with_its_debian_package(tmp_path, monkeypatch):
    fake = tmp_path / "iperf3"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    checks = {c.name: c for c in doctor.tool_checks()}
    assert checks["iperf3"].ok and str(fake) in checks["iperf3"].detail
    assert checks["ping"].ok is False                  # /usr/bin is off the PATH now
    assert checks["ping"].fix == "apt-get install iputils-ping"
    assert checks["tshark"].fix == "apt-get install tshark"


def test_tun_check_agrees_with_the_device_node():
    checks = {c.name: c for c in doctor.feature_checks()}
    assert set(checks) >= {"TUN/TAP", "IFF_VNET_HDR", "AF_PACKET rings", "netem", "VXLAN",
                           "tbf", "nftables", "namespaces"}
    if os.geteuid() == 0:
        assert checks["TUN/TAP"].ok is os.path.exists("/dev/net/tun")


@pytest.mark.skipif(os.geteuid() != 0, reason="the netem probe needs root")
def test_netem_check_agrees_with_a_real_netem_qdisc():
    # kernelmode's probe adds a netem qdisc to a scratch device; the doctor only reads
    # the kernel's configuration.  They must tell the same story.
    from vforward.topo.kernelmode import netem_available
    netem = next(c for c in doctor.feature_checks() if c.name == "netem")
    assert netem.ok is netem_available()
    if not netem.ok:
        assert "CONFIG_NET_SCH_NETEM" in netem.fix
