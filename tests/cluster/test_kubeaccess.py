"""The lab commands on a lab deployed with `topo deploy --k8s`, through the
Kubernetes client's exec stream, reaching real routers.

No cluster exists here.  The stand-in API server (apiserver.py) is given a pod
emulation (podemulation.py): once deploy has created the objects and lists the
pods, every Pod it was sent runs its container command in network and mount
namespaces of its own; pods report Ready when their readiness probe passes, and
exec runs the requested command inside the pod's namespaces.  So deploy's
watch, `topo validate` (ping, traceroute), `stats`, `link`, `impair`,
`capture`, `top` and `inspect` below go through the official client and the
exec WebSocket to the routers of an OSPF lab on two (emulated) hosts.  One
lab is deployed for the whole module."""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytest.importorskip("kubernetes")

from tests.cluster.apiserver import start_api, stop_api
from tests.cliprocess import run_cli
from tests.cluster.podemulation import PodEmulation
from vforward import netns
from vforward.bundled import lab as lab_path
from vforward.topo import ops, render, state
from vforward.topo.access import lab_access
from vforward.topo.deploy import prepare

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(os.geteuid() != 0, reason="pods need root and namespaces"),
              pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed"),
              pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is missing")]


def vf(env, *args, timeout=90):
    return subprocess.run([sys.executable, "-m", "vforward", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


class Lab:
    def __init__(self, name, env, server, path, lab):
        self.name, self.env, self.server, self.path, self.lab = name, env, server, path, lab

    def vf(self, *args):
        # In this process: the fixture gave it the CLI's kubeconfig and state folder.
        return run_cli(*args)

    def execs(self):
        """(pod, command) of every exec the API server was asked for."""
        return [(c["path"].split("/")[-2], c["query"]["command"]) for c in self.server.calls
                if c["path"].endswith("/exec")]


@pytest.fixture(scope="module")
def k8slab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("k8slab")
    name = "k8o" + uuid.uuid4().hex[:6]
    text = open(lab_path("ospf4.yaml")).read().replace("name: ospf4", f"name: {name}").replace(
        "routing: ospf\n", "routing: ospf\nhosts:\n  ha: {address: 192.0.2.1}\n"
        "  hb: {address: 192.0.2.2}\n", 1)
    path = tmp / "lab.yaml"
    path.write_text(text)
    lab = prepare(str(path))
    server = start_api(tmp / "kubeconfig")
    env = dict(os.environ, KUBECONFIG=str(tmp / "kubeconfig"),
               VFORWARD_STATE_DIR=str(tmp / "state"))
    logs = tmp / "logs"
    logs.mkdir()
    # The tests call the lab commands in this process too (a CLI start is slow on a
    # busy machine): the same kubeconfig and state folder as the CLI's.
    patch = pytest.MonkeyPatch()
    patch.setenv("KUBECONFIG", env["KUBECONFIG"])
    patch.setattr(state, "STATE_ROOT", env["VFORWARD_STATE_DIR"])

    def start_pods(namespace):
        # The first look at the pods (deploy's wait) starts every Pod sent so far.
        if server.emulation is not None:
            return
        objects = [o for p, o in list(server.objects.items())
                   if p.startswith(f"/api/v1/namespaces/{namespace}/")]
        emu = PodEmulation(objects, lambda pod: render.netns_name(lab, pod),
                           str(tmp / "volumes"), f"vfk-{name}")
        server.emulation = emu
        emu.network()
        emu.start(str(logs))
    server.on_pods_listed = start_pods
    try:
        p = vf(env, "topo", "deploy", str(path), "--k8s", "--context", "lab-cluster",
               "--ready-timeout", "60")
        assert p.returncode == 0, p.stderr + str(server.emulation and {
            n: server.emulation.ready(n) for n in server.emulation.procs}) + "".join(
            f"\n--- {f.name}\n{f.read_text()}" for f in logs.iterdir())
        yield Lab(name, env, server, path, lab)
    finally:
        vf(env, "topo", "destroy", name)
        if server.emulation is not None:
            server.emulation.stop()
            server.emulation.clean()
        # a lab host's namespace made inside a pod that did not end cleanly
        left = [render.netns_name(lab, n) for n in ("h1", "h2")]
        netns.delete_many([n for n in left if netns.exists(n)])
        stop_api(server)
        patch.undo()


def test_deploy_waits_for_the_pods_readiness_through_a_watch(k8slab):
    pods = [c for c in k8slab.server.calls if c["path"].endswith("/pods")
            and c["method"] == "GET"]
    watches = [c for c in pods if c["query"].get("watch") == ["true"]]
    assert watches, "deploy watched the pods"
    assert all(c["query"]["labelSelector"] == [f"vforward.io/lab={k8slab.name}"] for c in pods)
    # the emulated pods took a while to pass their probe: deploy returned only after it
    assert all(k8slab.server.emulation.ready(pod) for pod in ("r1", "r2", "r3", "r4"))


def test_validate_runs_its_pings_and_traceroutes_in_the_pods(k8slab):
    deadline = time.monotonic() + 60
    while True:     # OSPF converges after the pods are ready
        p = k8slab.vf("topo", "validate", k8slab.name)
        if p.returncode == 0 or time.monotonic() > deadline:
            break
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 passed, 0 failed" in p.stdout
    execs = k8slab.execs()
    # h1 is a namespace inside r1's pod: its commands run there under ip netns exec
    in_h1 = ["ip", "netns", "exec", f"vf-{k8slab.name}-h1"]
    assert any(pod == "r1" and cmd[:5] == in_h1 + ["traceroute"] for pod, cmd in execs)
    assert any(pod == "r1" and cmd[:5] == in_h1 + ["ping"] for pod, cmd in execs)


def test_stats_reads_every_router_through_a_relay_in_its_pod(k8slab):
    k8slab.vf("topo", "exec", k8slab.name, "h1", "--", "ping", "-c", "3", "-i", "0.2",
              str(k8slab.lab.nodes["h2"].interfaces["eth1"].address.ip))
    p = k8slab.vf("topo", "stats", k8slab.name, "--json")
    assert p.returncode == 0, p.stderr
    rows = {r["interface"]: r for r in json.loads(p.stdout)}
    routers = {f"r{i}:eth{j}" for i in range(1, 5) for j in (1, 2)} | {"r1:eth3", "r3:eth3"}
    assert set(rows) == routers
    assert not [r for r in rows.values() if "error" in r]
    assert rows["r1:eth3"]["rx_packets"] >= 3 and rows["r3:eth3"]["tx_packets"] >= 3
    assert all(r["up"] for r in rows.values())
    relays = [pod for pod, cmd in k8slab.execs()
              if cmd == ["python3", "-m", "vforward.node.relay"]]
    assert {"r1", "r2", "r3", "r4"} <= set(relays)


def test_link_down_takes_both_ends_down_in_the_pods_and_up_again(k8slab):
    p = k8slab.vf("topo", "link", k8slab.name, "r1:eth1", "down")
    assert p.returncode == 0 and "r1:eth1 -- r2:eth1 down" in p.stdout, p.stderr
    try:
        rows = {r["interface"]: r for r in ops.stats(k8slab.name)}
        assert not rows["r1:eth1"]["up"] and not rows["r2:eth1"]["up"]
        assert rows["r1:eth2"]["up"]
        # the carrier of the pods' kernel interfaces went with it
        shown = lab_access(k8slab.lab).run("r2", ["ip", "link", "show", "eth1"]).stdout
        assert "NO-CARRIER" in shown, shown
        # the link's state is kept in the lab's record
        r1 = next(n for n in ops.inspect(k8slab.name)["nodes"] if n["node"] == "r1")
        assert next(i for i in r1["interfaces"] if i["name"] == "eth1")["link"] == "down"
    finally:
        ops.set_link(k8slab.name, "r1:eth1", "up")
    rows = {r["interface"]: r for r in ops.stats(k8slab.name)}
    assert rows["r1:eth1"]["up"] and rows["r2:eth1"]["up"]
    assert "NO-CARRIER" not in lab_access(k8slab.lab).run("r2", ["ip", "link", "show",
                                                                "eth1"]).stdout


def test_impair_sets_the_delay_a_ping_between_pods_then_sees(k8slab):
    p = k8slab.vf("topo", "impair", k8slab.name, "r1:eth1", "--delay", "40ms")
    assert p.returncode == 0 and "delay 0.04," in p.stdout, p.stdout + p.stderr
    peer = str(k8slab.lab.nodes["r2"].interfaces["eth1"].address.ip)

    def rtts(count):
        out = lab_access(k8slab.lab).run("r1", ["ping", "-n", "-c", str(count), "-i", "0.2",
                                                "-W", "1", peer], timeout=20).stdout
        return [float(line.split("time=")[1].split()[0]) for line in out.splitlines()
                if "time=" in line], out
    try:
        # After the link test OSPF may still route r1 -> r2 the long way round for a
        # few seconds (TTL 62, not through r1:eth1): wait for the direct path.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(t >= 40 for t in rtts(1)[0]):
            time.sleep(0.5)
        got, out = rtts(3)
        assert got and min(got) >= 40, out
    finally:
        now = ops.impair(k8slab.name, "r1:eth1", reset=True)
    assert now["delay"] in ("0", "0.0"), now


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump reads the pcap")
def test_capture_streams_the_pcap_from_the_pod_into_a_local_file(k8slab, tmp_path):
    peer = str(k8slab.lab.nodes["r2"].interfaces["eth1"].address.ip)
    pinger = subprocess.Popen(["ip", "netns", "exec", render.netns_name(k8slab.lab, "r1"),
                               "ping", "-n", "-i", "0.1", peer],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "r1.pcap"
    try:
        p = k8slab.vf("topo", "capture", k8slab.name, "r1:eth1", "-w", str(out),
                      "--duration", "1.2")
    finally:
        pinger.terminate()
        pinger.wait()
    assert p.returncode == 0, p.stderr
    read = subprocess.run(["tcpdump", "-n", "-r", str(out)], capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    assert read.stdout.count(f"> {peer}: ICMP echo request") >= 3, read.stdout
    # the file the router wrote in the pod's run folder is gone
    left = k8slab.vf("topo", "exec", k8slab.name, "r1", "--", "sh", "-c",
                     "ls /run/vforward/node").stdout
    assert ".pcap" not in left, left


def test_top_once_reads_the_routers_metrics_in_the_pods(k8slab):
    p = k8slab.vf("topo", "top", k8slab.name, "--once", "--interval", "0.5")
    assert p.returncode == 0, p.stderr
    assert "4 routers" in p.stdout and "error" not in p.stdout, p.stdout
    assert p.stdout.count(" up\n") + p.stdout.rstrip().endswith(" up") >= 10, p.stdout


def test_inspect_shows_each_node_in_its_pod_with_the_pods_state(k8slab):
    p = k8slab.vf("topo", "inspect", k8slab.name, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    nodes = {n["node"]: n for n in info["nodes"]}
    assert info["cluster"]["namespace"] == f"vforward-{k8slab.name}"
    assert {n: (v["kind"], v["pod"]) for n, v in nodes.items()} == {
        "r1": ("router", "r1"), "r2": ("router", "r2"), "r3": ("router", "r3"),
        "r4": ("router", "r4"), "h1": ("host", "r1"), "h2": ("host", "r3")}
    assert all(v["running"] for v in nodes.values())
    assert nodes["r1"]["pod_address"].startswith("198.51.100.")
    text = k8slab.vf("topo", "inspect", k8slab.name).stdout
    assert "pod/r1" in text and f"on Kubernetes: namespace vforward-{k8slab.name}" in text, text


def test_an_interface_that_is_not_in_the_lab_is_named(k8slab):
    p = k8slab.vf("topo", "link", k8slab.name, "r9:eth1", "down")
    assert p.returncode == 1 and "no interface 'r9:eth1'" in p.stderr, p.stderr


def test_exec_without_a_command_gives_a_shell_on_a_terminal_in_the_pod(k8slab):
    p = subprocess.run([sys.executable, "-m", "vforward", "topo", "exec", k8slab.name, "r2"],
                       env=k8slab.env, input="tty; ip -o link show eth2\nexit 4\n",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 4, p.stdout + p.stderr
    assert "/dev/pts/" in p.stdout and "eth2:" in p.stdout, p.stdout
    execs = k8slab.execs()
    assert execs[-1] == ("r2", ["sh"])
    assert [c for c in k8slab.server.calls if c["path"].endswith("/exec")][-1]["query"][
        "tty"] == ["true"]


def test_a_command_run_in_a_pod_gives_back_its_output_and_exit_status(k8slab):
    done = lab_access(k8slab.lab).run("r1", ["sh", "-c", "echo out; echo err >&2; exit 5"])
    assert (done.returncode, done.stdout, done.stderr) == (5, "out\n", "err\n")
    # a lab host runs inside its router's pod, in its own namespace
    done = lab_access(k8slab.lab).run("h2", ["ip", "-o", "-4", "address", "show", "eth1"])
    assert done.returncode == 0 and str(k8slab.lab.nodes["h2"].interfaces["eth1"].address) \
        in done.stdout, done.stdout + done.stderr
