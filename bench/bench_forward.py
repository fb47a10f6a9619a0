"""Forwarding through one router node: the kernel against vforward (TAP and
AF_PACKET) and a naive Python forwarder, on identical traffic.

    sudo .venv/bin/python bench/bench_forward.py [--repeat 3] [--seconds 3]
         [--modes kernel,tap,afpacket,naive] [--json out.json] [--png out.png]

The same as `vforward bench forward`; the logic and its description live in
vforward/bench/forward/.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vforward.bench.forward import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
