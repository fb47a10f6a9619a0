"""How long a lab takes to bring back a router process that was killed.

Deploys two routers in a line with a host on each side (one router per
process, restart: on-failure), then ROUNDS times: SIGKILL r1's process and
time (a) until the supervisor reports it running again (its new process
ready: graph built, TAPs and control socket open) and (b) until h1's ping
to h2 is answered again across it.  Prints each round and the medians.

    python bench/bench_restart.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from vforward.topo import ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import load_state

LAB = """\
name: {name}
restart: on-failure
topology:
  nodes:
    r1: {{}}
    r2: {{}}
    h1: {{kind: host}}
    h2: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["h1:eth1", "r1:eth2"]
    - endpoints: ["h2:eth1", "r2:eth2"]
"""


def r1(name: str) -> dict:
    return next(n for n in ops.inspect(name)["nodes"] if n["node"] == "r1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    name = "rs" + uuid.uuid4().hex[:6]
    path = os.path.join(tempfile.mkdtemp(prefix="restart"), "lab.yaml")
    with open(path, "w") as f:
        f.write(LAB.format(name=name))
    deploy(path, nodes_per_worker=1, log=print)
    try:
        lab = prepare(path)
        dst = lab.nodes["h2"].interfaces["eth1"].address.ip.compressed
        h1 = load_state(name).namespaces["h1"]
        up, back, spawn = [], [], []
        for k in range(a.rounds):
            os.kill(r1(name)["pid"], signal.SIGKILL)
            t0 = time.monotonic()
            while not ((n := r1(name))["restarts"] == k + 1 and n["running"]):
                if time.monotonic() - t0 > 60:
                    print("not restarted within 60 s")
                    return 1
                time.sleep(0.01)
            up.append(time.monotonic() - t0)
            spawn.append(n["last_restart_s"])
            while subprocess.run(["ip", "netns", "exec", h1, "ping", "-c1", "-W", "0.2", dst],
                                 capture_output=True).returncode:
                if time.monotonic() - t0 > 60:
                    print("no ping answered within 60 s")
                    return 1
            back.append(time.monotonic() - t0)
            print(f"round {k + 1}: kill -> running {up[-1]:.2f} s (new process start to ready "
                  f"{spawn[-1]:.2f} s), kill -> ping answered {back[-1]:.2f} s", flush=True)
        print(f"median of {a.rounds}: kill -> running {statistics.median(up):.2f} s, "
              f"kill -> ping answered {statistics.median(back):.2f} s")
        return 0
    finally:
        destroy(name)


if __name__ == "__main__":
    sys.exit(main())
