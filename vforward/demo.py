"""`vforward demo`: the default job, run on the bundled configuration and capture."""
from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources


def data_path(name: str) -> str:
    """Path of a file shipped in vforward/data."""
    return str(resources.files("vforward") / "data" / name)


def run_demo(args=None) -> int:
    from vforward.catalogue import load_builtin
    from vforward.graph import build_graph
    from vforward.runtime import Router
    load_builtin()
    cfg = data_path("demo.click")
    out_dir = tempfile.mkdtemp(prefix="vforward-demo-")
    out = os.path.join(out_dir, "demo-ip.pcap")
    with open(cfg) as f:
        text = f.read()
    graph = build_graph(text, cfg, {"IN": data_path("sample.pcap"), "OUT": out})
    router = Router(graph)
    print(f"vforward demo: running {cfg}")
    print(f"  over the bundled capture {data_path('sample.pcap')}")
    router.run(duration=30)
    read = lambda e, h: router.element(e).read(h)
    print(f"  frames read:    {read('frames', 'count')} ({read('frames', 'byte_count')} bytes)")
    print(f"  IPv4 frames:    {read('ip', 'count')}")
    print(f"  ARP frames:     {read('arp', 'count')}")
    print(f"  other frames:   {read('other', 'count')}")
    print(f"  wrote IPv4 packets to {out}")
    leaked = router.pool.n_used
    router.close()
    if leaked:
        print(f"  error: {leaked} packet slots were not returned to the pool", file=sys.stderr)
        return 1
    print("  every packet slot returned to the pool")
    return 0
