"""How many Python frames an idle ping runs through router.click, per device wake-up.

Two host namespaces, router.click (OFFLOAD=false, or true with --offload) run in this process
between their TAPs, and a few pings from one host to the other, one at a
time.  sys.setprofile counts, in every device reader call that read a frame,
the Python functions entered (each one a frame; on a cold path 3-5 µs each)
and the C functions those frames call; and, over the whole run, the Python frames the
loop ran outside the readers (timers, tasks, handlers), per ping.

    python bench/bench_rx_frames.py [--count N] [--tree DIR] [--offload] [--show]

--tree DIR imports vforward from another source tree (compiled in place),
to count an older tree's frames with the same script:
    python bench/bench_rx_frames.py --tree ../an-older-checkout

Needs root and ping.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10, help="pings (one every 0.2 s)")
    ap.add_argument("--tree", default=ROOT, help="the source tree to import vforward from")
    ap.add_argument("--show", action="store_true", help="list the functions entered")
    ap.add_argument("--offload", action="store_true", help="the TAPs with OFFLOAD true")
    opts = ap.parse_args()
    sys.path.insert(0, os.path.abspath(opts.tree))
    from vforward import netns as ns
    from vforward.graph import build_graph
    from vforward.runtime import Router
    print(f"vforward from {os.path.dirname(os.path.dirname(ns.__file__))}")

    tag = uuid.uuid4().hex[:6]
    a, b = f"vffra{tag}", f"vffrb{tag}"
    config = os.path.join(opts.tree, "configs", "examples", "router.click")
    defines = {"NS1": a, "NS2": b, "DEV1": f"fra{tag}", "DEV2": f"frb{tag}",
               "OFFLOAD": "true" if opts.offload else "false", "CTL": f"/tmp/vffr{tag}.sock"}
    for space in (a, b):
        subprocess.run(["ip", "netns", "add", space], check=True)
    try:
        with open(config) as f:
            router = Router(build_graph(f.read(), config, defines))
        per_call = []                   # (python frames, c calls, names) per reader call that read
        outside = collections.Counter()
        state = {"inside": False, "calls": 0, "ccalls": 0, "names": [], "over": False}

        def profile(frame, event, arg):
            if event == "call" and not state["over"] and frame.f_code.co_name != "counted":
                if state["inside"]:
                    state["calls"] += 1
                    state["names"].append(frame.f_code.co_qualname)
                else:
                    outside[frame.f_code.co_qualname] += 1
            elif event == "c_call" and state["inside"]:
                state["ccalls"] += 1

        add_reader = router.add_reader

        def counted_add_reader(fd, callback, poll=False, holdable=True):
            def counted():
                state.update(inside=True, calls=0, ccalls=0, names=[])
                count_before = taps[0].count + taps[1].count     # (no frame of our own)
                callback()
                state["inside"] = False
                if taps[0].count + taps[1].count != count_before:
                    per_call.append((state["calls"], state["ccalls"], state["names"]))
            add_reader(fd, counted, poll, holdable)
        router.add_reader = counted_add_reader
        taps = [e for e in router.elements.values() if hasattr(e, "_dev")]
        router.initialize()

        def reset():
            del per_call[:]
            outside.clear()

        def pinger():
            time.sleep(0.5)
            subprocess.run(["ip", "netns", "exec", a, "ping", "-c", "3", "-i", "0.2", "-q",
                            "10.2.0.2"], capture_output=True)     # ARP learned, caches warm
            router.loop.call_soon_threadsafe(reset)
            r = subprocess.run(["ip", "netns", "exec", a, "ping", "-c", str(opts.count), "-i",
                                "0.2", "10.2.0.2"], capture_output=True, text=True)
            done["ping"] = r.stdout
            router.loop.call_soon_threadsafe(state.update, {"over": True})
            router.loop.call_soon_threadsafe(router.stop)
        done = {}
        router.loop.call_soon(sys.setprofile, profile)
        threading.Thread(target=pinger, daemon=True).start()
        router.run(duration=opts.count * 0.2 + 30)
        sys.setprofile(None)
    finally:
        for space in (a, b):
            subprocess.run(["ip", "netns", "del", space], capture_output=True)
    received = done.get("ping", "").count("bytes from")
    print(f"pings answered: {received} of {opts.count}")
    if not per_call:
        print("no reader call read a frame")
        return
    frames = sorted(c for c, _, _ in per_call)
    ccalls = sorted(c for _, c, _ in per_call)
    print(f"reader calls that read a frame: {len(per_call)}")
    print(f"Python frames per such call: median {frames[len(frames) // 2]}, "
          f"min {frames[0]}, max {frames[-1]}")
    print(f"C functions called from those frames, per such call: median "
          f"{ccalls[len(ccalls) // 2]}")
    print(f"Python frames elsewhere in the loop, per ping: "
          f"{sum(outside.values()) / max(1, opts.count):.1f}")
    if opts.show:
        names = collections.Counter(n for _, _, ns_ in per_call for n in ns_)
        print("in the readers (total over all calls):")
        for name, k in names.most_common():
            print(f"  {k:5d}  {name}")
        print("elsewhere (total):")
        for name, k in outside.most_common(25):
            print(f"  {k:5d}  {name}")


if __name__ == "__main__":
    main()
