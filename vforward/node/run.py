"""`vforward node run DIR`: one node from its bundle, as a pod runs it.

The contract (files, node.json, environment, lifecycle) is in vforward.node.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

RETRY = 1.0                 # seconds between tries of a peer that has no address yet
RERESOLVE = 10.0            # seconds between re-resolutions of running peers ($VFORWARD_RERESOLVE)
WAIT_LOG = 5.0              # seconds between "waiting for" lines
DEFAULT_RUN_DIR = "/run/vforward/node"
DEFAULT_METRICS = "0.0.0.0:9100"
READY_FILE = "ready"
# A node runs alone in its process, unlike a lab worker's 25: its pool can hold
# a whole UDP GRO burst (32 datagrams of up to 44 frames) several times over.
NODE_SLOTS = 4096
NODE_GSO_SLOTS = 2048
NODE_KEYS = ("version", "lab", "node", "loopback", "router", "interfaces", "links", "routes",
             "attached_hosts")


class NodeError(RuntimeError):
    """The bundle is malformed or a part of the node would not start."""


class _Stopped(Exception):
    """SIGTERM or SIGINT before the router runs."""


def load_bundle(directory: str) -> dict:
    """node.json of a bundle, checked; NodeError naming the file and the fix."""
    from vforward.node.bundle import BUNDLE_VERSION, NODE_FILE
    path = os.path.join(directory, NODE_FILE)
    try:
        with open(path) as f:
            spec = json.load(f)
    except OSError as e:
        raise NodeError(f"cannot read {path}: {e.strerror}; render the bundle with "
                        "'vforward node render LAB.yaml NODE -o DIR'") from None
    except json.JSONDecodeError as e:
        raise NodeError(f"{path}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from None
    missing = [k for k in NODE_KEYS if k not in spec] if isinstance(spec, dict) else ["all"]
    if missing:
        raise NodeError(f"{path}: missing {', '.join(missing)}; render the bundle again")
    if spec["version"] != BUNDLE_VERSION:
        raise NodeError(f"{path}: bundle version {spec['version']}, this vforward runs "
                        f"version {BUNDLE_VERSION}; render it with this vforward")
    return spec


def resolve_peer(peer: dict, suffix: str) -> str | None:
    """The peer's address by its name (plus suffix), else its fallback address, else None."""
    if peer.get("name"):
        try:
            family = socket.AF_INET6 if peer.get("family") == 6 else socket.AF_INET
            infos = socket.getaddrinfo(peer["name"] + suffix, None, family, socket.SOCK_DGRAM)
            if infos:
                return infos[0][4][0]
        except (socket.gaierror, UnicodeError):
            pass
    return peer.get("address")


def _ip(*args: str) -> None:
    p = subprocess.run(["ip", *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise NodeError(f"'ip {' '.join(args)}' failed: {p.stderr.strip()}")


def _ip_batch(netns: str | None, lines: list[str]) -> None:
    """`ip -batch` lines in a namespace (None: this one)."""
    if not lines:
        return
    p = subprocess.run(["ip", *(["-n", netns] if netns else []), "-batch", "-"],
                       input="\n".join(lines) + "\n", capture_output=True, text=True)
    if p.returncode != 0:
        raise NodeError(f"configuring IPv6 {'in ' + netns if netns else 'here'} failed: "
                        f"{p.stderr.strip()}")


class Node:
    """One node's run: what it created, so that it removes exactly that."""

    def __init__(self, directory: str, run_dir: str, control: str | None, metrics: str | None,
                 peer_suffix: str, log=None):
        self.dir = directory
        self.spec = load_bundle(directory)
        self.run_dir = run_dir
        self.control = control or os.path.join(run_dir, "control.sock")
        self.metrics = None if metrics in (None, "", "off") else metrics
        self.suffix = peer_suffix
        self.log = log or (lambda text: print(f"vforward node {self.spec['node']}: {text}",
                                              file=sys.stderr, flush=True))
        self.peers: dict[str, str] = {}       # define -> address in use
        self.created_netns: list[str] = []
        self.taps: list[str] = []
        self.loopback = False
        self.bird_pid: int | None = None
        self.group = None
        self.router = None
        self._setup: threading.Thread | None = None
        self.failed: str | None = None

    # -- before the router ---------------------------------------------------------------
    def wait_for_peers(self) -> dict:
        """define -> address for every router peer, retrying those without one."""
        waiting = {link["define"]: link["peer"] for link in self.spec["links"]}
        last_log = 0.0
        while True:
            for define, peer in list(waiting.items()):
                addr = resolve_peer(peer, self.suffix)
                if addr:
                    self.peers[define] = addr
                    del waiting[define]
            if not waiting:
                return dict(self.peers)
            if time.monotonic() - last_log > WAIT_LOG:
                names = ", ".join(p["name"] + self.suffix for p in waiting.values())
                self.log(f"waiting for peers that do not resolve yet: {names}")
                last_log = time.monotonic()
            time.sleep(RETRY)

    def attach_hosts(self) -> None:
        from vforward import netns
        from vforward.topo.deploy import DUAL_STACK_SYSCTLS, NODE_SYSCTLS
        for ipv6 in (False, True):
            new = [h["netns"] for h in self.spec["attached_hosts"]
                   if bool(h.get("ipv6")) == ipv6 and not netns.exists(h["netns"])]
            netns.create_many(new, NODE_SYSCTLS | DUAL_STACK_SYSCTLS if ipv6 else NODE_SYSCTLS)
            self.created_netns += new

    def own_sysctls(self) -> None:
        from vforward.topo.deploy import DUAL_STACK_SYSCTLS, NODE_SYSCTLS
        # An IPv6 underlay reaches the peers through this namespace's IPv6;
        # a dual-stack node's kernel speaks IPv6 on its TAPs.
        v6 = self.spec.get("underlay_family") == 6 or self.spec.get("ipv6")
        wanted = NODE_SYSCTLS | DUAL_STACK_SYSCTLS if v6 else NODE_SYSCTLS
        for key, value in wanted.items():
            try:
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(f"{value}\n")
            except OSError as e:    # a read-only /proc/sys in a container: say so, go on
                self.log(f"cannot set {key}={value}: {e.strerror}")

    def build(self) -> None:
        from vforward.catalogue import load_builtin
        from vforward.control import ControlServer
        from vforward.graph import build_graph
        from vforward.runtime import RouterGroup, pool_for
        load_builtin()
        path = os.path.join(self.dir, self.spec["router"])
        with open(path) as f:
            graph = build_graph(f.read(), path, dict(self.peers))
        self.group = RouterGroup()
        self.router = self.group.add(self.spec["node"], graph,
                                     pool_for(graph, NODE_SLOTS, huge_pages=False,
                                              gso_slots=NODE_GSO_SLOTS))
        os.makedirs(os.path.dirname(self.control) or ".", exist_ok=True)
        server = ControlServer(self.router, path=self.control)
        server.bind()
        self.router.listeners.append(server)
        if self.metrics:
            from vforward.metrics import parse_listen_address, serve_metrics
            serve_metrics(self.group, **parse_listen_address(self.metrics))

    # -- after the router has made its TAPs -------------------------------------------------
    def after_start(self) -> None:
        try:
            _ip("address", "add", self.spec["loopback"], "dev", "lo")
            self.loopback = True
            for r in self.spec["routes"]:
                _ip("route", "replace", r["prefix"], "via", r["via"], "dev", r["dev"])
            _ip_batch(None, self.spec.get("kernel6", []))
            for h in self.spec["attached_hosts"]:
                _ip_batch(h["netns"], h.get("kernel6", []))
            if self.spec.get("bird"):
                from vforward.topo import bird
                bird_dir = os.path.join(self.run_dir, "bird")
                os.makedirs(bird_dir, exist_ok=True)
                self.bird_pid = bird.start_bird(None, os.path.join(self.dir, self.spec["bird"]),
                                                bird_dir)
            with open(os.path.join(self.run_dir, READY_FILE), "w") as f:
                f.write(f"{os.getpid()}\n")
            self.log(f"up: {len(self.spec['interfaces'])} interfaces, "
                     f"{len(self.spec['links'])} router links")
        except Exception as e:
            self.failed = str(e)
            self.log(f"failed: {e}")
            self.group.loop.call_soon_threadsafe(self.group.stop)

    async def follow_peers(self) -> None:
        """Re-point a link whose peer's name now resolves elsewhere (a restarted pod)."""
        loop = asyncio.get_running_loop()
        every = float(os.environ.get("VFORWARD_RERESOLVE") or RERESOLVE)
        while True:
            await asyncio.sleep(every)
            for link in self.spec["links"]:
                addr = await loop.run_in_executor(None, resolve_peer, link["peer"], self.suffix)
                if not addr or addr == self.peers.get(link["define"]):
                    continue
                wire = link["define"][len("PEER_"):] + "_wire"
                port = link["peer"]["port"]
                where = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
                self.router.element(f"{wire}/sock").write("remote", where)
                self.router.element(f"{wire}/decap").write("peer", where)
                self.log(f"peer {link['peer']['name']} moved to {addr}")
                self.peers[link["define"]] = addr

    # -- the whole run ------------------------------------------------------------------------
    def run(self) -> int:
        os.makedirs(self.run_dir, exist_ok=True)
        ready = os.path.join(self.run_dir, READY_FILE)
        if os.path.exists(ready):
            os.unlink(ready)

        def stop(signum, frame):
            raise _Stopped()
        old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                self.own_sysctls()
                self.attach_hosts()
                self.wait_for_peers()
                self.build()
                self.taps = [i["name"] for i in self.spec["interfaces"]]   # made from here on
                self.group.initialize()
            finally:
                for s, h in old.items():
                    signal.signal(s, h)

            def started():
                self._setup = threading.Thread(target=self.after_start, daemon=True)
                self._setup.start()
                asyncio.ensure_future(self.follow_peers())
            code = self.group.run(on_started=started)
            return 1 if self.failed else code
        except _Stopped:
            return 0
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        from vforward import netns
        ready = os.path.join(self.run_dir, READY_FILE)
        if os.path.exists(ready):
            os.unlink(ready)
        if self._setup is not None:
            self._setup.join(15)
        if self.bird_pid is not None:
            from vforward.topo import bird
            bird.stop_bird(self.bird_pid)
        for tap in self.taps:      # persistent TAPs outlive the router: remove ours
            subprocess.run(["ip", "link", "del", tap], capture_output=True)
        if self.loopback:
            subprocess.run(["ip", "address", "del", self.spec["loopback"], "dev", "lo"],
                           capture_output=True)
        if self.created_netns:
            netns.delete_many(self.created_netns)


def run_node(directory: str, run_dir: str | None = None, control: str | None = None,
             metrics: str | None = None, peer_suffix: str | None = None) -> int:
    env = os.environ
    node = Node(directory,
                run_dir or env.get("VFORWARD_RUN_DIR") or DEFAULT_RUN_DIR,
                control,
                metrics if metrics is not None else env.get("VFORWARD_METRICS", DEFAULT_METRICS),
                peer_suffix if peer_suffix is not None else env.get("VFORWARD_PEER_SUFFIX", ""))
    return node.run()
