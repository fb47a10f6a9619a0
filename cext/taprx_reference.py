"""Plain-Python reference for the TAP readiness callback in cext/taprx.pyx.

The same class with the same steps, written as the obvious Python: what
KernelTun._on_readable, FusedInput, FusedForward and KernelTun.push do for
a batch that takes the common case, one after the other.  The module
docstring of taprx.pyx states what each step does and where a batch goes
when a step does not apply.
"""
from __future__ import annotations

import errno
import math

import numpy as np

ETHER_HLEN = 14
VLAN_HLEN = 4
GSO_MAX_FRAME = 65535


class TapReceive:
    """The reader of one TAP device (see cext/taprx.pyx)."""

    def __init__(self, tap, pool, read_burst, kinds: dict):
        self.tap = tap
        self.pool = pool
        self.read_burst = read_burst
        self.fd = tap._dev.fd
        self.burst = tap.burst
        self.offload = tap.offload
        self.fused_input = kinds["fused_input"]
        self.fused_forward = kinds["fused_forward"]
        self.sink_type = kinds["sink"]
        self.sink_push = kinds["sink_push"]
        self.batch_type = kinds["batch"]
        self.forward_to_port = kinds["forward_to_port"]
        self.written = 0

    def __call__(self):
        tap = self.tap
        try:
            idx = self.read_burst(self.fd, self.pool, self.burst)
        except OSError as e:
            tap._on_read_error(e)
            return
        if len(idx) == 0:
            if self.pool._slots.n_free == 0:
                tap._on_pool_exhausted()
            return
        tap.count += len(idx)
        if self.offload:
            tap.gso_count += int(np.count_nonzero(self.pool.gso_size[idx]))
        self._deliver(idx)

    def _deliver(self, idx) -> None:
        tap = self.tap
        batch = self.batch_type(self.pool, idx)
        push, port = tap._out_push[0], tap._out_port[0]
        if type(push) is not self.fused_input:
            return push(port, batch)
        fi = push
        if fi._pool is not self.pool:
            fi._bind(self.pool)
        if not fi._run(idx):
            return fi.entry_push(port, batch)
        push, port = fi.last._out_push[fi.out], fi.last._out_port[fi.out]
        if type(push) is not self.fused_forward:
            return push(port, batch)
        querier = self._forward(push, idx)
        if querier is None:
            return push.entry_push(port, batch)
        sink = querier._out_push[0]
        if not self._write(sink, idx):
            sink(querier._out_port[0], batch)

    def _forward(self, ff, idx):
        pool = self.pool
        n = len(idx)
        if len(ff._nhs) < n:
            ff._nhs = np.empty(max(n, len(pool.dst_ip)), dtype=np.uint16)
        nhs = ff._nhs
        table = ff.table.table
        table.fib.lookup_indexed(pool.dst_ip, idx, nhs)
        if int(nhs[0]) >= len(table.nh_port):
            return None
        out = int(table.nh_port[nhs[0]])
        plan = ff.plans.get(out)
        if plan is None:
            return None
        q = plan.querier
        arp = q.table
        if arp is None or not q.ipaddr:
            return None
        if arp._index_dirty:
            arp._rebuild_index()
        now = q.router.loop.time()     # Router.now
        if not self.forward_to_port(
                pool, idx, nhs, table.nh_port, table.nh_gw, out, True, plan.mtu,
                arp._sorted_ips, arp._sorted_rows, arp._known, arp._live, arp._mac, plan.src_mac,
                now - arp.timeout if arp.timeout else -math.inf,
                now - q.poll_timeout if q.poll_timeout else -math.inf):
            return None
        (ff.ttl if ff.ttl is not None else plan.ttl).count += n
        return q

    def _write(self, sink, idx) -> bool:
        dest = getattr(sink, "__self__", None)
        if not (isinstance(dest, self.sink_type) and getattr(sink, "__func__", None)
                is self.sink_push and dest.tap):
            return False
        if dest._dev is None or dest._writer._waiting:
            return False
        pool = self.pool
        gso = pool.gso_size[idx]
        if not dest.offload and ((pool.csum_start[idx] != 0) | (gso != 0)).any():
            return False            # KernelTun.push finishes these in software first
        length = pool.length[idx]
        limit = np.where(gso > 0, GSO_MAX_FRAME + ETHER_HLEN + VLAN_HLEN,
                         dest.mtu + ETHER_HLEN + VLAN_HLEN)
        if not ((length >= ETHER_HLEN) & (length <= limit)).all():
            return False
        writer = dest._writer
        sent, err = writer.io.write_burst(writer.fd, pool, idx)
        writer.sent += sent
        self.written += 1
        if err == 0:
            pool.free(idx)
            return True
        pool.free(idx[:sent])
        if err == errno.EAGAIN:
            writer._hold(pool, idx[sent:])
            writer._wait()
        else:
            writer.drops += 1
            pool.free(idx[sent:sent + 1])
            if writer.on_error is not None:
                writer.on_error(err)
            writer._write(pool, idx[sent + 1:])
        return True
