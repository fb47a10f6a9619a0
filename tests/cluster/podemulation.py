"""Running generated Kubernetes manifests on one machine, as a kubelet would,
to show that they are executable and not only well-formed.

From the objects alone (read back from the files `topo manifests` wrote):
  * a pod network: namespace `underlay` with a bridge; each Pod a network
    namespace with `eth0` on it and an address of POD_NET (as a flat CNI);
  * Services resolve as cluster DNS would: every headless Service's selector
    is matched against the Pods' labels, and its names (NAME, NAME.NS.svc,
    NAME.NS.svc.cluster.local) go into /etc/netns/POD/hosts, which
    `ip netns exec` bind-mounts over /etc/hosts for everything the pod runs;
  * the container: its command, args and env, with every volumeMount bound
    at its mountPath in the pod's own mount namespace (configMap: its data as
    files; emptyDir: an empty folder; hostPath: the path), read-only where
    declared, and capabilities bounded to a container runtime's defaults plus
    those the Pod adds;
  * the readiness probe: its exec command, run inside the pod's namespaces;
  * exec in a pod (exec_command): inside its namespaces, with its environment
    and capabilities, as `kubectl exec` runs a command.
Not emulated: image, scheduling (nodeSelector and affinity are ignored; every
pod is on this machine), restarts.
"""
from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

POD_NET = ipaddress.IPv4Network("198.51.100.0/24")
# What containerd and Docker grant a container unless told otherwise.
RUNTIME_CAPS = ["chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid",
                "setpcap", "net_bind_service", "net_raw", "sys_chroot", "mknod", "audit_write",
                "setfcap"]


class PodEmulation:
    def __init__(self, objects: list[dict], netns_of, workdir: str, underlay: str):
        """objects: every manifest object; netns_of(pod name) -> the namespace to run it in."""
        self.pods = [o for o in objects if o["kind"] == "Pod"]
        self.configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
        self.services = [o for o in objects if o["kind"] == "Service"]
        self.netns_of = netns_of
        self.workdir = workdir
        self.underlay = underlay
        self.address = {p["metadata"]["name"]: str(POD_NET.network_address + 2 + i)
                        for i, p in enumerate(self.pods)}
        self.procs: dict[str, subprocess.Popen] = {}
        self.made_dirs: list[str] = []
        self.etc: list[str] = []

    # -- the pod network and its names ----------------------------------------------
    def network(self) -> None:
        ip = ["ip", "-batch", "-"]
        subprocess.run(["ip", "netns", "add", self.underlay], check=True)
        lines = []
        for i, pod in enumerate(self.pods):
            ns = self.netns_of(pod["metadata"]["name"])
            subprocess.run(["ip", "netns", "add", ns], check=True)
            lines.append(f"link add pod{i} netns {self.underlay} type veth peer name eth0 "
                         f"netns {ns}")
        subprocess.run(ip, input="\n".join(lines) + "\n", text=True, check=True)
        subprocess.run(["ip", "-n", self.underlay, "-batch", "-"], text=True, check=True,
                       input="link add br0 type bridge\nlink set br0 up\n" + "".join(
                           f"link set pod{i} master br0\nlink set pod{i} up\n"
                           for i in range(len(self.pods))))
        for pod in self.pods:
            name = pod["metadata"]["name"]
            subprocess.run(["ip", "-n", self.netns_of(name), "-batch", "-"], text=True,
                           check=True, input=f"link set lo up\nlink set eth0 up\n"
                           f"address add {self.address[name]}/{POD_NET.prefixlen} dev eth0\n")
            self._hosts_file(pod)

    def _endpoints(self, service: dict) -> list[str]:
        sel = service["spec"]["selector"]
        return [self.address[p["metadata"]["name"]] for p in self.pods
                if p["metadata"]["namespace"] == service["metadata"]["namespace"]
                and all(p["metadata"]["labels"].get(k) == v for k, v in sel.items())]

    def _hosts_file(self, pod: dict) -> None:
        lines = ["127.0.0.1\tlocalhost",
                 f"{self.address[pod['metadata']['name']]}\t{pod['spec']['hostname']}"]
        for svc in self.services:
            n, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
            for addr in self._endpoints(svc):
                lines.append(f"{addr}\t{n}.{ns}.svc {n}.{ns}.svc.cluster.local {n}")
        etc = os.path.join("/etc/netns", self.netns_of(pod["metadata"]["name"]))
        os.makedirs(etc, exist_ok=True)
        self.etc.append(etc)
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- the containers -----------------------------------------------------------------
    def _mountpoint(self, path: str) -> None:
        if not os.path.exists(path):
            top = path
            while not os.path.exists(os.path.dirname(top)):
                top = os.path.dirname(top)
            os.makedirs(path)
            self.made_dirs.append(top)

    def _volume_source(self, pod_name: str, volume: dict) -> str:
        if "configMap" in volume:
            folder = os.path.join(self.workdir, pod_name, volume["name"])
            os.makedirs(folder)
            for key, text in self.configmaps[volume["configMap"]["name"]]["data"].items():
                with open(os.path.join(folder, key), "w") as f:
                    f.write(text)
            return folder
        if "emptyDir" in volume:
            folder = os.path.join(self.workdir, pod_name, volume["name"])
            os.makedirs(folder)
            return folder
        if "hostPath" in volume:
            return volume["hostPath"]["path"]
        raise AssertionError(f"volume kind not emulated: {volume}")

    def container_command(self, pod: dict) -> tuple[list[str], dict]:
        name = pod["metadata"]["name"]
        (c,) = pod["spec"]["containers"]
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        script = []
        for m in c.get("volumeMounts", []):
            src = self._volume_source(name, volumes[m["name"]])
            if src == m["mountPath"]:
                continue    # a hostPath at its own path: already there
            self._mountpoint(m["mountPath"])
            script.append(f"mount --bind {shlex.quote(src)} {shlex.quote(m['mountPath'])}")
            if m.get("readOnly"):
                script.append(f"mount -o remount,bind,ro {shlex.quote(m['mountPath'])}")
        argv = c.get("command", []) + c.get("args", [])
        script.append("exec " + shlex.join(self._bounded(pod) + argv))
        return ["ip", "netns", "exec", self.netns_of(name), "sh", "-ec", "\n".join(script)], \
            self._env(pod)

    @staticmethod
    def _bounded(pod: dict) -> list[str]:
        """setpriv limiting what follows to a runtime's capabilities plus the Pod's."""
        (c,) = pod["spec"]["containers"]
        caps = RUNTIME_CAPS + [k.lower() for k in c.get("securityContext", {})
                               .get("capabilities", {}).get("add", [])]
        return ["setpriv", "--bounding-set", "-all," + ",".join("+" + k for k in caps), "--"]

    @staticmethod
    def _env(pod: dict) -> dict:
        (c,) = pod["spec"]["containers"]
        env = {"PATH": os.path.dirname(sys.executable) + ":" + os.environ["PATH"],
               "HOME": "/root", "HOSTNAME": pod["spec"]["hostname"]}
        if "PYTHONPATH" in os.environ:      # the "image" is this machine's vforward, as found
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        env.update({e["name"]: e["value"] for e in c.get("env", [])})
        return env

    def exec_command(self, name: str, argv: list[str]) -> tuple[list[str], dict]:
        """A command exec'd in a running pod, as the kubelet runs it: in the pod's mount
        and network namespaces, with the container's environment and capabilities."""
        pod = next(p for p in self.pods if p["metadata"]["name"] == name)
        return (["nsenter", "-t", str(self.procs[name].pid), "-m", "-n", "--",
                 *self._bounded(pod), *argv], self._env(pod))

    def start(self, log_dir: str) -> None:
        for pod in self.pods:
            cmd, env = self.container_command(pod)
            name = pod["metadata"]["name"]
            with open(os.path.join(log_dir, f"{name}.log"), "w") as log:
                self.procs[name] = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                                    stdout=log, stderr=subprocess.STDOUT,
                                                    start_new_session=True)

    def ready(self, name: str) -> bool:
        """The pod's readiness probe, run in its mount and network namespaces."""
        pod = next(p for p in self.pods if p["metadata"]["name"] == name)
        probe = pod["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
        pid = self.procs[name].pid
        return subprocess.run(["nsenter", "-t", str(pid), "-m", "-n", "--", *probe],
                              capture_output=True).returncode == 0

    def wait_ready(self, timeout: float, log_dir: str) -> float:
        t0 = time.monotonic()
        waiting = set(self.procs)
        while waiting:
            for name in list(waiting):
                if self.procs[name].poll() is not None:
                    raise AssertionError(f"pod {name} exited ({self.procs[name].returncode}):\n"
                                         + open(os.path.join(log_dir, f"{name}.log")).read())
                if self.ready(name):
                    waiting.discard(name)
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"pods not ready after {timeout}s: {sorted(waiting)}")
            time.sleep(0.2)
        return time.monotonic() - t0

    def stop(self) -> dict:
        """SIGTERM every pod, as the kubelet does, then SIGKILL after the grace period."""
        codes = {}
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            pod = next(x for x in self.pods if x["metadata"]["name"] == name)
            try:
                codes[name] = p.wait(timeout=pod["spec"].get("terminationGracePeriodSeconds", 30))
            except subprocess.TimeoutExpired:
                p.kill()
                codes[name] = p.wait()
        return codes

    def clean(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for pod in self.pods:
            subprocess.run(["ip", "netns", "del", self.netns_of(pod["metadata"]["name"])],
                           capture_output=True)
        subprocess.run(["ip", "netns", "del", self.underlay], capture_output=True)
        for d in self.etc:
            shutil.rmtree(d, ignore_errors=True)
        for d in self.made_dirs:
            shutil.rmtree(d, ignore_errors=True)
