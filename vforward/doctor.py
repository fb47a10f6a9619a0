"""`vforward doctor`: what this installation and this machine can do.

Which compiled kernels import (and from where), which kernel features the
machine has (TUN/TAP, IFF_VNET_HDR, AF_PACKET rings, netem, VXLAN, tbf,
nftables, network namespaces) and which external tools the testbed finds;
each missing thing with how to get it.  Probing is quick and sends nothing:
it opens /dev/net/tun without creating a device, asks an unbound packet
socket for its ring version, and reads the kernel's build configuration
(/proc/config.gz, /boot/config-RELEASE), /sys/module and modules.builtin.
`vforward --version` prints the kernels' line of it.
"""
from __future__ import annotations

import argparse
import fcntl
import gzip
import os
import shutil
import socket
import struct
import sys
from dataclasses import dataclass

from vforward import __version__, kernels


@dataclass
class Check:
    name: str
    ok: bool | None          # None: cannot tell from here (say why in detail)
    detail: str = ""
    fix: str = ""


# -- compiled kernels ----------------------------------------------------------------

def kernel_checks() -> list[Check]:
    out = []
    for st in kernels.status():
        if st.compiled:
            detail = os.path.basename(st.compiled)
            if st.reference_requested:
                detail += f" (but {kernels.ENV} selects the plain-Python reference)"
            out.append(Check(st.name, True, detail))
        else:
            out.append(Check(st.name, False, st.error or "", kernels.rebuild_command()))
    return out


def kernels_line() -> str:
    """One line: how many kernels are compiled, and where they are."""
    checks = kernel_checks()
    missing = [c.name for c in checks if not c.ok]
    where = os.path.dirname(kernels.status()[0].compiled or "") if not missing else ""
    if not missing:
        line = f"kernels: all {len(checks)} compiled ({where})"
    else:
        line = (f"kernels: {len(missing)} of {len(checks)} NOT compiled "
                f"({', '.join(missing)}): see `vforward doctor`")
    if os.environ.get(kernels.ENV):
        line += f"; {kernels.ENV}={os.environ[kernels.ENV]} selects plain-Python references"
    return line


# -- kernel features -----------------------------------------------------------------

TUNGETFEATURES = 0x800454CF      # _IOR('T', 207, unsigned int)
IFF_TAP = 0x0002
IFF_VNET_HDR = 0x4000
SOL_PACKET = 263
PACKET_VERSION = 10
TPACKET_V3 = 2

# feature -> (CONFIG_ symbol, module name, what it is for)
KERNEL_CONFIG = {
    "netem": ("CONFIG_NET_SCH_NETEM", "sch_netem",
              "kernel-mode link delay and loss (vforward's LinkEmulator does not need it)"),
    "VXLAN": ("CONFIG_VXLAN", "vxlan", "kernel-mode links between namespaces"),
    "tbf": ("CONFIG_NET_SCH_TBF", "sch_tbf", "kernel-mode link rates"),
    "nftables": ("CONFIG_NF_TABLES", "nf_tables", "the egress node's NAT in kernel mode"),
    "namespaces": ("CONFIG_NET_NS", None, "labs: one network namespace per node"),
}


def _kernel_config() -> dict[str, str] | None:
    """CONFIG_X -> y/m/n from the running kernel's build configuration, if readable."""
    paths = [("/proc/config.gz", True), (f"/boot/config-{os.uname().release}", False)]
    for path, zipped in paths:
        try:
            with (gzip.open(path, "rt") if zipped else open(path)) as f:
                text = f.read()
        except OSError:
            continue
        conf = {}
        for line in text.splitlines():
            if line.startswith("CONFIG_") and "=" in line:
                key, _, value = line.partition("=")
                conf[key] = value
            elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
                conf[line[2:-len(" is not set")]] = "n"
        return conf
    return None


def _module_present(module: str) -> bool:
    if os.path.isdir(f"/sys/module/{module}"):
        return True
    base = f"/lib/modules/{os.uname().release}"
    for name in ("modules.builtin", "modules.dep"):
        try:
            with open(os.path.join(base, name)) as f:
                if f"/{module}.ko" in f.read():
                    return True
        except OSError:
            pass
    return False


def _config_check(feature: str, conf: dict | None) -> Check:
    symbol, module, what = KERNEL_CONFIG[feature]
    fix = (f"a kernel built with {symbol} (Debian's linux-image-amd64 has it"
           + (f"; then modprobe {module}" if module else "") + ")")
    if conf is not None and symbol in conf:
        if conf[symbol] in ("y", "m"):
            return Check(feature, True, f"{symbol}={conf[symbol]}: {what}")
        return Check(feature, False, f"this kernel is built without {symbol}: no {what}", fix)
    if module and _module_present(module):
        return Check(feature, True, f"module {module}: {what}")
    if feature == "namespaces" and os.path.exists("/proc/self/ns/net"):
        return Check(feature, True, f"/proc/self/ns/net: {what}")
    return Check(feature, None, f"cannot tell (no kernel config, no module {module} listed): "
                                f"{what}", fix)


def _tun_checks() -> list[Check]:
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
    except FileNotFoundError:
        fix = "a kernel with CONFIG_TUN (modprobe tun), or mknod /dev/net/tun c 10 200"
        return [Check("TUN/TAP", False, "/dev/net/tun is missing", fix),
                Check("IFF_VNET_HDR", False, "needs TUN/TAP", fix)]
    except PermissionError:
        why = "/dev/net/tun exists but cannot be opened by this user"
        return [Check("TUN/TAP", None, why, "run as root (or with CAP_NET_ADMIN)"),
                Check("IFF_VNET_HDR", None, why, "run as root")]
    try:
        buf = fcntl.ioctl(fd, TUNGETFEATURES, struct.pack("I", 0))
        features = struct.unpack("I", buf)[0]
    except OSError as e:
        features = None
        err = e.strerror
    finally:
        os.close(fd)
    tun = Check("TUN/TAP", True, "/dev/net/tun: TAP devices for routers and hosts")
    if features is None:
        return [tun, Check("IFF_VNET_HDR", None, f"TUNGETFEATURES failed: {err}")]
    if features & IFF_VNET_HDR:
        vnet = Check("IFF_VNET_HDR", True, "TAP offloads: TCP super-frames cross whole")
    else:
        vnet = Check("IFF_VNET_HDR", False, "no virtio-net header on TAP: run KernelTap "
                                            "without OFFLOAD", "a Linux kernel 2.6.27 or later")
    return [tun, vnet]


def _packet_ring_check() -> Check:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)   # protocol 0: receives nothing
    except PermissionError:
        return Check("AF_PACKET rings", None, "packet sockets need root (CAP_NET_RAW)",
                     "run as root")
    except OSError as e:
        return Check("AF_PACKET rings", False, f"no packet sockets: {e.strerror}",
                     "a kernel with CONFIG_PACKET")
    try:
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
    except OSError as e:
        return Check("AF_PACKET rings", False, f"TPACKET_V3 refused ({e.strerror}): "
                     "FromDevice falls back to one recvmsg per packet", "a Linux kernel 3.2 or later")
    finally:
        sock.close()
    return Check("AF_PACKET rings", True, "TPACKET_V3: FromDevice/ToDevice rings")


def feature_checks() -> list[Check]:
    conf = _kernel_config()
    return [*_tun_checks(), _packet_ring_check(),
            *(_config_check(f, conf) for f in KERNEL_CONFIG)]


# -- external tools ------------------------------------------------------------------

# program -> (Debian package, what the testbed uses it for)
TOOLS = {
    "ip": ("iproute2", "namespaces, links and addresses"),
    "bird": ("bird2", "routing daemons in lab nodes"),
    "birdc": ("bird2", "reading BIRD's routes"),
    "iperf3": ("iperf3", "TCP/UDP throughput in labs and benchmarks"),
    "tshark": ("tshark", "reading captures"),
    "tcpdump": ("tcpdump", "captures on lab links"),
    "trafgen": ("netsniff-ng", "the packet flood of `vforward bench forward`"),
    "openvpn": ("openvpn", "outside hosts joining a lab through an ingress node"),
    "dot": ("graphviz", "`vforward graph` and lab pictures as SVG/PNG"),
    "ping": ("iputils-ping", "reachability checks and RTT"),
    "traceroute": ("traceroute", "paths through a lab"),
    "nft": ("nftables", "NAT on an egress node in kernel mode"),
    "taskset": ("util-linux", "pinning benchmark processes to CPUs"),
}


def tool_checks() -> list[Check]:
    out = []
    for prog, (package, what) in TOOLS.items():
        path = shutil.which(prog) or next(
            (p for d in ("/usr/sbin", "/sbin") if os.access(p := os.path.join(d, prog), os.X_OK)),
            None)
        if path:
            out.append(Check(prog, True, f"{path}: {what}"))
        else:
            out.append(Check(prog, False, f"not found: {what}", f"apt-get install {package}"))
    return out


# -- the report ----------------------------------------------------------------------

_MARK = {True: "ok", False: "MISSING", None: "unknown"}


def _section(title: str, checks: list[Check], out) -> None:
    print(f"{title}:", file=out)
    width = max(len(c.name) for c in checks) + 2
    for c in checks:
        print(f"  {c.name:<{width}}{_MARK[c.ok]:<9}{c.detail}", file=out)
        if c.ok is not True and c.fix:
            print(f"  {'':<{width}}{'':<9}fix: {c.fix}", file=out)


def report(out=None) -> int:
    """Print everything; 1 when a compiled kernel is missing (the data plane cannot run)."""
    out = out or sys.stdout
    import vforward
    print(f"vforward {__version__} (Python {sys.version.split()[0]}, "
          f"{os.path.dirname(vforward.__file__)})", file=out)
    from vforward import bundled
    print(f"bundled examples: {bundled.examples_dir()}\nbundled labs: {bundled.labs_dir()}",
          file=out)
    print(kernels_line(), file=out)
    ks = kernel_checks()
    _section("compiled kernels", ks, out)
    _section("kernel features", feature_checks(), out)
    _section("tools", tool_checks(), out)
    return 0 if all(c.ok for c in ks) else 1


def cmd_doctor(args) -> int:
    return report()


class VersionAction(argparse.Action):
    """--version: the version and whether the kernels are compiled."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the version and the compiled kernels, then exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"vforward {__version__}\n{kernels_line()}")
        parser.exit()


def add_parser(sub) -> None:
    d = sub.add_parser("doctor", help="compiled kernels, kernel features and tools: what is "
                                      "missing and how to get it")
    d.set_defaults(func=cmd_doctor)
