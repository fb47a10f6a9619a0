"""Benchmark of the compiled IPv6 FIB (cext/fib6.pyx, a poptrie) on a synthetic table.

    python bench/bench_fib6.py [--json PATH] [--seed N] [--runs N]

Measures, on ~200,000 IPv6 routes from bench/internet_table6.py (length mix
and nesting after the 2024 global table; see that module):
- lookups/s at batch 256 on one core (Fib6.lookup_batch, one Python call per
  batch into a preallocated out array) against pytricia's IPv6 lookups (one
  per Python call, which is how it is used, given 16-byte keys, its fastest
  form) and, for scale on a busy machine, the IPv4 Fib (DIR-24-8) on
  200,000 random /24s at batch 256; all interleaved run by run so that a
  noisy neighbour hits them alike; medians of --runs runs;
- the C ceilings: the plainest C loop over Fib6's own tables (bench/fib6_ceiling.c,
  gcc -O3 -march=native, one address at a time), and the same walk batched
  as Fib6 batches it, in plain C, on the whole array: what this machine does
  with the same data, with and without the batching;
- every rate twice: by the wall clock (what the targets judge) and by the
  thread's CPU time (on a machine shared with other work, the wall clock also
  counts the time the benchmark waited for a core);
- build time: Fib6() + load() of the whole table from its arrays;
- deletes/s and inserts/s under churn (50,000 random routes withdrawn, then
  announced again with new next hops, one Python call each), and mixed ops;
  the same through delete_many/insert_many (one call for all), for scale;
- correctness: every pytricia lookup address, the edges of a sample of
  routes, and again after the churn, must give pytricia's answer.
Lookup addresses are random addresses inside random routes of the table
(traffic goes to routed destinations; uniformly random 128-bit addresses
would almost all miss at the first level).

    python bench/bench_fib6.py --against OTHER/cext/fib6.cpython-*.so [--runs N]

compares this build with another build of the same module (an older tree's)
in one process: both load the same table, their lookup runs alternate, and
each churn round (withdraw N routes, announce them again with new next hops,
then give them other next hops) runs on both, alternating in slices; every
round both must answer alike.  Prints medians and the ratio per run.
"""
import argparse
import ctypes
import importlib.machinery
import importlib.util
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from internet_table6 import internet_table6  # noqa: E402

from vforward.cext.fib6 import NO_ROUTE, Fib6  # noqa: E402

BATCH = 256
N_ADDRS = 1 << 20
N_PYTRICIA = 1 << 16
N_CHURN = 50_000
N_EDGES = 20_000

TARGETS = {
    "lookups_per_s": 40e6,
    "ratio_to_pytricia": 100,
    "build_s": 1.0,
    "inserts_per_s": 0.5e6,
    "deletes_per_s": 0.5e6,
}


def _ints(rows):
    """(n, 16) uint8 rows -> list of Python ints."""
    b = rows.tobytes()
    return [int.from_bytes(b[i:i + 16], "big") for i in range(0, len(b), 16)]


def _rows(ints):
    return np.frombuffer(b"".join(a.to_bytes(16, "big") for a in ints),
                         dtype=np.uint8).reshape(-1, 16).copy()


def _ceilings(tmp):
    """Compile bench/fib6_ceiling.c; its (one at a time, batched) loops."""
    so = os.path.join(tmp, "fib6_ceiling.so")
    subprocess.run(["gcc", "-O3", "-march=native", "-shared", "-fPIC",
                    os.path.join(HERE, "fib6_ceiling.c"), "-o", so], check=True)
    lib = ctypes.CDLL(so)
    out = []
    for name in ("fib6_lookup_ceiling", "fib6_lookup_ceiling_batched"):
        f = getattr(lib, name)
        f.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_size_t]
        f.restype = None
        out.append(f)
    return out


def _timed(fn):
    """(wall seconds, CPU seconds of this thread) of one call of fn."""
    w, c = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - w, time.thread_time() - c


def _lookup_addresses(rng, prefixes, plens, n):
    """n random addresses, each inside a random route of the table."""
    pick = rng.integers(0, len(prefixes), size=n)
    base = _ints(prefixes[pick])
    noise = rng.integers(0, 1 << 63, size=(n, 2), dtype=np.int64).tolist()
    out = []
    for b, l, (h, lo) in zip(base, plens[pick].tolist(), noise):
        host = ((h << 65) | (lo << 2)) & ((1 << (128 - l)) - 1)
        out.append(b | host)
    return _rows(out)


def _pytricia_table(prefixes, plens, nhs):
    import pytricia
    pyt = pytricia.PyTricia(128)
    for p, l, n in zip(_ints(prefixes), plens.tolist(), nhs.tolist()):
        pyt.insert(f"{ipaddress.IPv6Address(p)}/{l}", n)
    return pyt


def _check(fib, pyt, addr_rows, what):
    got = fib.lookup_batch(addr_rows).tolist()
    for a, g in zip(_ints(addr_rows), got):
        r = pyt.get(str(ipaddress.IPv6Address(a)))
        want = NO_ROUTE if r is None else r
        if g != want:
            raise SystemExit(f"MISMATCH on {what}: {ipaddress.IPv6Address(a)}: vforward {g}, "
                             f"pytricia {want}")
    return len(got)


def _edges(prefixes, plens):
    out = []
    for p, l in zip(_ints(prefixes), plens.tolist()):
        hi = p + (1 << (128 - l)) - 1
        out += [a for a in (p, hi, p - 1, hi + 1) if 0 <= a < 1 << 128]
    return _rows(out)


def run(seed=1, runs=7, log=print):
    res = {"seed": seed, "batch": BATCH}
    rng = np.random.default_rng(seed + 1000)
    t = time.perf_counter()
    prefixes, plens, nhs = internet_table6(seed)
    res["routes"] = len(prefixes)
    res["mean_length"] = float(plens.mean())
    log(f"table: {len(prefixes)} routes, mean length {plens.mean():.1f} (seed {seed}, "
        f"made in {time.perf_counter() - t:.1f} s)")

    # -- build
    builds = []
    fib = None

    def build():
        nonlocal fib
        fib = None
        fib = Fib6()
        fib.load(prefixes, plens, nhs)

    for _ in range(3):
        builds.append(_timed(build))
    res["build_s"] = statistics.median(b[0] for b in builds)
    build_cpu_s = statistics.median(b[1] for b in builds)
    res["memory"] = fib.memory()
    assert len(fib) == len(prefixes)
    t = time.perf_counter()
    pyt = _pytricia_table(prefixes, plens, nhs)
    res["pytricia_build_s"] = time.perf_counter() - t

    # -- lookups, vforward and pytricia interleaved
    addrs = _lookup_addresses(rng, prefixes, plens, N_ADDRS)
    batches = [addrs[i:i + BATCH] for i in range(0, N_ADDRS, BATCH)]
    out = np.empty(BATCH, dtype=np.uint16)
    lookup_batch = fib.lookup_batch

    def vf():
        for b in batches:
            lookup_batch(b, out)

    py_addrs = [a.tobytes() for a in addrs[:N_PYTRICIA]]
    get = pyt.get

    def py():
        for a in py_addrs:
            get(a)

    from vforward.cext.fib import Fib
    fib4 = Fib()
    fib4.load(rng.integers(0, 1 << 32, 200_000, dtype=np.uint32) & 0xFFFFFF00,
              np.full(200_000, 24, np.uint8), rng.integers(0, 0xFFFF, 200_000, dtype=np.uint16))
    addrs4 = rng.integers(0, 1 << 32, N_ADDRS, dtype=np.uint32)
    batches4 = [addrs4[i:i + BATCH] for i in range(0, N_ADDRS, BATCH)]
    lookup4 = fib4.lookup_batch

    def v4():
        for b in batches4:
            lookup4(b, out)

    c_out = np.empty(N_ADDRS, dtype=np.uint16)
    cb_out = np.empty(N_ADDRS, dtype=np.uint16)
    tmp = tempfile.mkdtemp(prefix="bench_fib6_")
    ceiling, ceiling_batched = _ceilings(tmp)
    tables = fib._raw_tables()

    def c_loop():
        ceiling(*tables, addrs.ctypes.data, c_out.ctypes.data, N_ADDRS)

    def cb_loop():
        ceiling_batched(*tables, addrs.ctypes.data, cb_out.ctypes.data, N_ADDRS)

    vf(), c_loop(), cb_loop()       # warm up
    # the ceilings do not probe the host routes (/128s): compare elsewhere
    hosts = {bytes(r) for r, l in zip(prefixes, plens) if l == 128}
    away = np.array([bytes(a) not in hosts for a in addrs])
    want = fib.lookup_batch(addrs)[away]
    if not (np.array_equal(c_out[away], want) and np.array_equal(cb_out[away], want)):
        raise SystemExit("MISMATCH: the C ceilings and Fib6 disagree on the same tables")
    rates = {k: ([], []) for k in ("vf", "py", "v4", "c", "cb")}
    for _ in range(runs):      # interleaved, so that a noisy neighbour hits all alike
        for key, fn, n in (("vf", vf, N_ADDRS), ("py", py, N_PYTRICIA), ("v4", v4, N_ADDRS),
                           ("c", c_loop, N_ADDRS), ("cb", cb_loop, N_ADDRS)):
            wall, cpu = _timed(fn)
            rates[key][0].append(n / wall)
            rates[key][1].append(n / cpu)
    med = statistics.median
    res["ipv4_fib_lookups_per_s"] = med(rates["v4"][0])
    res["lookups_per_s"] = med(rates["vf"][0])
    res["lookups_per_s_runs"] = rates["vf"][0]
    res["pytricia_lookups_per_s"] = med(rates["py"][0])
    res["ratio_to_pytricia"] = res["lookups_per_s"] / res["pytricia_lookups_per_s"]
    res["c_lookups_per_s"] = med(rates["c"][0])
    res["c_batched_lookups_per_s"] = med(rates["cb"][0])
    res["cpu"] = {"build_s": build_cpu_s, "lookups_per_s": med(rates["vf"][1]),
                  "pytricia_lookups_per_s": med(rates["py"][1]),
                  "ipv4_fib_lookups_per_s": med(rates["v4"][1]),
                  "c_lookups_per_s": med(rates["c"][1]),
                  "c_batched_lookups_per_s": med(rates["cb"][1])}
    res["cpu"]["ratio_to_pytricia"] = (res["cpu"]["lookups_per_s"]
                                       / res["cpu"]["pytricia_lookups_per_s"])

    # -- correctness against pytricia
    t = time.perf_counter()
    sample = rng.choice(len(prefixes), N_EDGES // 4, replace=False)
    checked = _check(fib, pyt, addrs[:N_PYTRICIA], "the lookup addresses")
    checked += _check(fib, pyt, _edges(prefixes[sample], plens[sample]), "prefix edge addresses")
    log(f"checked {checked} addresses against pytricia ({time.perf_counter() - t:.1f} s)")

    # -- churn
    pick = rng.choice(len(prefixes), N_CHURN, replace=False)
    cp, cl = _ints(prefixes[pick]), plens[pick].tolist()
    new_nh = rng.integers(0, 0xFFFF, size=N_CHURN, dtype=np.uint16).tolist()
    delete, insert = fib.delete, fib.insert

    def deletes():
        for p, l in zip(cp, cl):
            delete(p, l)

    wall, cpu = _timed(deletes)
    res["deletes_per_s"] = N_CHURN / wall
    res["cpu"]["deletes_per_s"] = N_CHURN / cpu
    assert len(fib) == len(prefixes) - N_CHURN
    order = rng.permutation(N_CHURN).tolist()
    rp, rl, rn = [cp[i] for i in order], [cl[i] for i in order], [new_nh[i] for i in order]

    def inserts():
        for p, l, n in zip(rp, rl, rn):
            insert(p, l, n)

    wall, cpu = _timed(inserts)
    res["inserts_per_s"] = N_CHURN / wall
    res["cpu"]["inserts_per_s"] = N_CHURN / cpu
    assert len(fib) == len(prefixes)
    # mixed: withdraw and re-announce another set, interleaved
    pick2 = rng.choice(len(prefixes), N_CHURN, replace=False)
    p2, l2 = _ints(prefixes[pick2]), plens[pick2].tolist()
    nh2 = rng.integers(0, 0xFFFF, size=N_CHURN, dtype=np.uint16).tolist()
    # each route withdrawn at one random time and announced again at a later one
    when = np.sort(rng.random((N_CHURN, 2)), axis=1)
    events = sorted([(when[i, 0], False, i) for i in range(N_CHURN)] +
                    [(when[i, 1], True, i) for i in range(N_CHURN)])
    ordered = [(ins, p2[i], l2[i], nh2[i]) for _, ins, i in events]
    t = time.perf_counter()
    for is_insert, p, l, n in ordered:
        if is_insert:
            insert(p, l, n)
        else:
            delete(p, l)
    res["mixed_ops_per_s"] = len(ordered) / (time.perf_counter() - t)
    assert len(fib) == len(prefixes)

    # the same churn through the batch calls, on a third set of routes
    pick3 = rng.choice(len(prefixes), N_CHURN, replace=False)
    rows3, pl3 = prefixes[pick3], plens[pick3]
    nh3 = rng.integers(0, 0xFFFF, size=N_CHURN, dtype=np.uint16)
    wall, cpu = _timed(lambda: fib.delete_many(rows3, pl3))
    res["delete_many_per_s"] = N_CHURN / wall
    res["cpu"]["delete_many_per_s"] = N_CHURN / cpu
    assert len(fib) == len(prefixes) - N_CHURN
    wall, cpu = _timed(lambda: fib.insert_many(rows3, pl3, nh3))
    res["insert_many_per_s"] = N_CHURN / wall
    res["cpu"]["insert_many_per_s"] = N_CHURN / cpu
    assert len(fib) == len(prefixes)

    # mirror the churn into pytricia and check again
    t = time.perf_counter()
    for p, l, n in zip(rp, rl, rn):
        pyt.insert(f"{ipaddress.IPv6Address(p)}/{l}", n)
    for is_insert, p, l, n in ordered:
        if is_insert:
            pyt.insert(f"{ipaddress.IPv6Address(p)}/{l}", n)
    for p, l, n in zip(_ints(rows3), pl3.tolist(), nh3.tolist()):
        pyt.insert(f"{ipaddress.IPv6Address(p)}/{l}", n)
    checked = _check(fib, pyt, addrs[N_PYTRICIA:2 * N_PYTRICIA], "random addresses after churn")
    touched = np.concatenate([pick[:N_EDGES // 8], pick2[:N_EDGES // 8], pick3[:N_EDGES // 8]])
    checked += _check(fib, pyt, _edges(prefixes[touched], plens[touched]),
                      "edges of churned routes")
    log(f"after churn: checked {checked} addresses against pytricia "
        f"({time.perf_counter() - t:.1f} s)")
    res["memory_after_churn"] = fib.memory()
    return res


def _load_fib6(path):
    """The Fib6 class of another build of vforward.cext.fib6 (a .so file)."""
    loader = importlib.machinery.ExtensionFileLoader("fib6", path)
    spec = importlib.util.spec_from_file_location("fib6", path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod.Fib6


def side_by_side(against, seed=1, runs=7, log=print):
    """This build and the one at path `against`, alternated run by run."""
    builds = {"this": Fib6, "against": _load_fib6(against)}
    rng = np.random.default_rng(seed + 2000)
    prefixes, plens, nhs = internet_table6(seed)
    log(f"table: {len(prefixes)} routes; against {against}")
    fibs = {}
    measures = ("build_s", "lookups_per_s", "deletes_per_s", "inserts_per_s", "nh_changes_per_s")
    rates = {k: {m: [] for m in measures} for k in builds}
    for r in range(3):
        for name in (("this", "against") if r % 2 == 0 else ("against", "this")):
            fibs[name] = None
            fib = builds[name]()
            rates[name]["build_s"].append(_timed(lambda: fib.load(prefixes, plens, nhs))[1])
            fibs[name] = fib
    addrs = _lookup_addresses(rng, prefixes, plens, N_ADDRS)
    batches = [addrs[i:i + BATCH] for i in range(0, N_ADDRS, BATCH)]
    out = np.empty(BATCH, dtype=np.uint16)

    def lookups(fib, part):
        lookup_batch = fib.lookup_batch
        for b in part:
            lookup_batch(b, out)

    # runs alternate in slices of the batches and of the churn, so that a busy
    # neighbour's bursts fall on both builds alike
    n_slices = 16
    slices = [batches[i::n_slices] for i in range(n_slices)]
    for name in builds:
        lookups(fibs[name], batches)     # warm up
    if not np.array_equal(fibs["this"].lookup_batch(addrs), fibs["against"].lookup_batch(addrs)):
        raise SystemExit("MISMATCH: the two builds answer differently")
    memory = {name: fibs[name].memory() for name in builds}
    for r in range(runs):
        cpu = dict.fromkeys(builds, 0.0)
        for i, part in enumerate(slices):
            for name in (("this", "against") if (r + i) % 2 == 0 else ("against", "this")):
                cpu[name] += _timed(lambda: lookups(fibs[name], part))[1]
        for name in builds:
            rates[name]["lookups_per_s"].append(N_ADDRS / cpu[name])
    probe = addrs[:N_PYTRICIA]
    for r in range(runs):
        pick = rng.choice(len(prefixes), N_CHURN, replace=False)
        cp, cl = _ints(prefixes[pick]), plens[pick].tolist()
        cn = rng.integers(0, 0xFFFF, size=N_CHURN, dtype=np.uint16).tolist()
        cn2 = rng.integers(0, 0xFFFF, size=N_CHURN, dtype=np.uint16).tolist()
        for op in ("deletes_per_s", "inserts_per_s", "nh_changes_per_s"):
            cpu = dict.fromkeys(builds, 0.0)
            for i in range(0, N_CHURN, N_CHURN // n_slices):
                part = range(i, min(i + N_CHURN // n_slices, N_CHURN))
                for name in (("this", "against") if (r + i) % 2 == 0 else ("against", "this")):
                    delete, insert = fibs[name].delete, fibs[name].insert

                    def deletes():
                        for k in part:
                            delete(cp[k], cl[k])

                    def inserts():
                        for k in part:
                            insert(cp[k], cl[k], cn[k])

                    def nh_changes():       # routes that are there, a new next hop each
                        for k in part:
                            insert(cp[k], cl[k], cn2[k])

                    cpu[name] += _timed({"deletes_per_s": deletes, "inserts_per_s": inserts,
                                         "nh_changes_per_s": nh_changes}[op])[1]
            for name in builds:
                rates[name][op].append(N_CHURN / cpu[name])
        if not np.array_equal(fibs["this"].lookup_batch(probe),
                              fibs["against"].lookup_batch(probe)):
            raise SystemExit(f"MISMATCH: the two builds answer differently after churn round {r}")
    med = statistics.median
    print()
    print(f"side by side in one process, {runs} runs alternated, rates per thread CPU second "
          f"(build: CPU seconds); medians")
    print(f"{'measure':18} {'this':>10} {'against':>10} {'ratio':>7}   ratio per run")
    for m in measures[1:2] + measures[:1] + measures[2:]:
        a, b = rates["this"][m], rates["against"][m]
        per_run = " ".join(f"{x / y:.2f}" for x, y in zip(a, b))
        scale = 1 if m == "build_s" else 1e-6
        print(f"{m:18} {med(a) * scale:10.3f} {med(b) * scale:10.3f} {med(a) / med(b):7.2f}   "
              f"{per_run}")
    for name in builds:
        mem = memory[name]
        print(f"data plane ({name}): nodes {mem['nodes'] / 1e6:.1f} MB, "
              f"leaves {mem['leaves'] / 1e6:.1f} MB, trie {mem['trie'] / 1e6:.1f} MB")
    print("answers identical between the two builds on every check")
    return {"rates": rates, "memory": memory}


def _verdicts(res):
    return {k: (res[k] <= g if k == "build_s" else res[k] >= g) for k, g in TARGETS.items()}


def _report(res):
    met = _verdicts(res)
    cpu = res["cpu"]
    rows = [
        ("lookups/s vforward Fib6, batch 256", f"{res['lookups_per_s'] / 1e6:8.1f} M",
         "lookups_per_s", ">= 40 M", f"{cpu['lookups_per_s'] / 1e6:8.1f} M"),
        ("lookups/s pytricia (one per call)", f"{res['pytricia_lookups_per_s'] / 1e6:8.2f} M",
         None, "", f"{cpu['pytricia_lookups_per_s'] / 1e6:8.2f} M"),
        ("vforward / pytricia", f"{res['ratio_to_pytricia']:8.0f} x", "ratio_to_pytricia",
         ">= 100 x", f"{cpu['ratio_to_pytricia']:8.0f} x"),
        ("  (C ceiling, one at a time, same tables)", f"{res['c_lookups_per_s'] / 1e6:8.1f} M",
         None, "", f"{cpu['c_lookups_per_s'] / 1e6:8.1f} M"),
        ("  (C ceiling, batched the same way)", f"{res['c_batched_lookups_per_s'] / 1e6:8.1f} M",
         None, "", f"{cpu['c_batched_lookups_per_s'] / 1e6:8.1f} M"),
        ("  (IPv4 Fib, batch 256, for scale)", f"{res['ipv4_fib_lookups_per_s'] / 1e6:8.1f} M",
         None, "", f"{cpu['ipv4_fib_lookups_per_s'] / 1e6:8.1f} M"),
        ("build (Fib6() + load)", f"{res['build_s']:8.3f} s", "build_s", "<= 1 s",
         f"{cpu['build_s']:8.3f} s"),
        ("  (pytricia build, for scale)", f"{res['pytricia_build_s']:8.3f} s", None, "", ""),
        ("inserts/s under churn", f"{res['inserts_per_s'] / 1e6:8.2f} M", "inserts_per_s",
         ">= 0.5 M", f"{cpu['inserts_per_s'] / 1e6:8.2f} M"),
        ("deletes/s under churn", f"{res['deletes_per_s'] / 1e6:8.2f} M", "deletes_per_s",
         ">= 0.5 M", f"{cpu['deletes_per_s'] / 1e6:8.2f} M"),
        ("mixed insert/delete ops/s", f"{res['mixed_ops_per_s'] / 1e6:8.2f} M", None, "", ""),
        ("  (inserts/s, insert_many, one call)", f"{res['insert_many_per_s'] / 1e6:8.2f} M",
         None, "", f"{cpu['insert_many_per_s'] / 1e6:8.2f} M"),
        ("  (deletes/s, delete_many, one call)", f"{res['delete_many_per_s'] / 1e6:8.2f} M",
         None, "", f"{cpu['delete_many_per_s'] / 1e6:8.2f} M"),
    ]
    print()
    print(f"vforward IPv6 FIB bench: {res['routes']} routes (mean /{res['mean_length']:.1f}), "
          f"batch {res['batch']}, seed {res['seed']}")
    print(f"{'measure':42} {'wall clock':>12}   {'target':10} {'':4} {'CPU time':>12}")
    print("-" * 86)
    for name, value, key, target, by_cpu in rows:
        verdict = ('ok' if met[key] else 'MISS') if key else ''
        print(f"{name:42} {value:>12}   {target:10} {verdict:4} {by_cpu:>12}")
    print("(targets judged by the wall clock; CPU time: the same runs by the thread's "
          "CPU time, without the waits for a core on a busy machine)")
    m = res["memory"]
    print(f"data plane: nodes {m['nodes'] / 1e6:.1f} MB, leaves {m['leaves'] / 1e6:.1f} MB, "
          f"of which first-level blocks {m['direct'] / 1e6:.1f} MB; "
          f"answers identical to pytricia on every checked address")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Benchmark the compiled IPv6 FIB.")
    ap.add_argument("--json", metavar="PATH", help="write the numbers here")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=7, help="lookup runs (the median is reported)")
    ap.add_argument("--against", metavar="SO",
                    help="compare with this other build of vforward/cext/fib6 (a .so), "
                         "side by side in one process, instead of the full bench")
    args = ap.parse_args(argv)
    if args.against:
        res = side_by_side(args.against, args.seed, args.runs)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=2)
        return 0
    t = time.perf_counter()
    res = run(args.seed, args.runs)
    res["bench_s"] = time.perf_counter() - t
    _report(res)
    print(f"bench took {res['bench_s']:.0f} s")
    res["targets"] = TARGETS
    res["met"] = _verdicts(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
