"""`vforward bench ...`: the benchmarks on the command line."""
from __future__ import annotations

import argparse


def cmd_forward(a) -> int:
    from vforward.bench.forward import BenchError, run
    from vforward.cli import fail
    try:
        run(a)
    except BenchError as e:
        return fail(str(e))
    return 0


def cmd_lab(a) -> int:
    from vforward.bench.lab import LabBenchError, main
    from vforward.cli import fail
    try:
        return main(a)
    except LabBenchError as e:
        return fail(str(e))


def add_parser(sub) -> None:
    from vforward.bench import forward
    b = sub.add_parser("bench", help="benchmarks: forwarding against the kernel")
    bs = b.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    bs.required = True
    f = bs.add_parser("forward", help="kernel vs vforward (TAP, AF_PACKET) vs a naive "
                                      "forwarder: pps, Mbit/s, RTT",
                      description=forward.__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    forward.add_arguments(f)
    f.set_defaults(func=cmd_forward)
    from vforward.bench import lab
    lb = bs.add_parser("lab", help="one lab in user and kernel mode: pps, TCP, RTT, reroute time",
                       description=lab.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lab.add_arguments(lb)
    lb.set_defaults(func=cmd_lab)
