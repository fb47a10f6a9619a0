# cython: language_level=3, boundscheck=False, wraparound=False
"""A TAP device's readiness callback in one compiled call: read a burst,
run the router's fused input and forwarding passes, write to the next TAP.

An idle router pays for every Python frame between the device and the next
one, and a cold frame costs microseconds: reading, building a Batch, the
fused input pass's and the fused forwarding pass's own frames, the sink's
push, its checks and its writer made about a dozen of them per ping.
`TapReceive` is the reader a KernelTap gives the loop instead.  Each
call does, in C, what that chain of calls did:

    read_burst(fd, pool, burst)             (tapio: frames into fresh slots;
                                             read_burst_vnet with OFFLOAD)
    tap.count += n, and with OFFLOAD tap.gso_count
    the tap's output push, when it is a FusedInput: its compiled InputPass
    the push after the input chain, when it is a FusedForward: its route
        lookup, the ARP parameters of its plan, ipforward.forward_to_port,
        the DecIPTTL count
    the push after the ARPQuerier, when it is KernelTun.push of a TAP:
        KernelTun._sendable's checks for a TAP and its BurstWriter's write
        (to a TAP without OFFLOAD, only when no packet has offload state:
        its push finishes those in software)

Each step looks at the graph as it is now (a handler write that rebuilds a
fused path is seen on the next call), and each one that does not apply
hands the batch, untouched, to exactly the push the Python path would have
called at that point: the elements' own push on a refused batch, the next
push as the graph wired it otherwise.  So ARP, a packet for the router, an
expired TTL, a missing route or ARP entry, a blocked or closed device all
go where they went before, with the elements' own counters and outputs.

The classes it must recognise (FusedInput, FusedForward, KernelTun, Batch)
are given to it by the element that builds it, so this module imports
nothing above the kernels.  Its plain-Python twin is `taprx_reference.py`
(same class, same behaviour); the tests run both on the same frames.
"""
from libc.errno cimport EAGAIN
from libc.stdint cimport uint16_t, uint32_t
cimport numpy as cnp

import math

import numpy as np

cnp.import_array()

include "poolcolumns.pxi"

DEF _ETHER_HLEN = 14
DEF _VLAN_HLEN = 4
DEF _GSO_MAX_FRAME = 65535      # KernelTun's limit for a super-frame, Ethernet header aside


cdef class TapReceive:
    """The reader of one TAP device (see the module docstring).

    TapReceive(tap, pool, read_burst, kinds): `tap` is the KernelTap
    element (its fd, burst, count, outputs and error reports), `read_burst`
    tapio's or its reference, `kinds` a dict of the classes to recognise:
    fused_input, fused_forward, sink (KernelTun), sink_push (KernelTun.push),
    batch (Batch) and forward_to_port (ipforward's, or its reference).
    Calling it reads and forwards once.
    """

    cdef object tap, pool, read_burst, slots
    cdef object fused_input, fused_forward, sink_type, sink_push, batch_type, forward_to_port
    cdef int fd
    cdef Py_ssize_t burst
    cdef bint offload                     # the device's frames may carry offload state
    cdef object _sink_key, _sink_dest     # the last sink push seen, and its KernelTun or None
    cdef readonly Py_ssize_t written      # batches that took the whole compiled path

    def __init__(self, tap, pool, read_burst, dict kinds):
        self.tap = tap
        self.pool = pool
        self.slots = pool._slots
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
        self._sink_key = self._sink_dest = None
        self.written = 0

    def __call__(self):
        cdef Py_ssize_t n
        tap = self.tap
        pool = self.pool
        try:
            idx = self.read_burst(self.fd, pool, self.burst)
        except OSError as e:
            tap._on_read_error(e)
            return
        n = cnp.PyArray_SIZE(<cnp.ndarray>idx)
        if n == 0:
            if self.slots.n_free == 0:
                tap._on_pool_exhausted()
            return
        tap.count += n
        if self.offload:
            tap.gso_count += _super_frames(pool, idx, n)
        self._deliver(idx, n)

    cdef object _batch(self, idx):
        """A Batch without its Python __init__ (a frame, on a cold path)."""
        b = self.batch_type.__new__(self.batch_type)
        b.pool = self.pool
        b.idx = idx
        return b

    cdef void _deliver(self, idx, Py_ssize_t n) except *:
        tap = self.tap
        push = tap._out_push[0]
        port = tap._out_port[0]
        if type(push) is not self.fused_input:
            push(port, self._batch(idx))
            return
        fi = push
        if fi._pool is not self.pool:
            fi._bind(self.pool)
        if not fi._run(idx):
            fi.entry_push(port, self._batch(idx))
            return
        last = fi.last
        out = fi.out
        push = last._out_push[out]
        port = last._out_port[out]
        if type(push) is not self.fused_forward:
            push(port, self._batch(idx))
            return
        querier = self._forward(push, idx, n)
        if querier is None:
            push.entry_push(port, self._batch(idx))
            return
        sink = querier._out_push[0]
        if not self._write(sink, idx, n):
            sink(querier._out_port[0], self._batch(idx))

    cdef object _forward(self, ff, idx, Py_ssize_t n):
        """FusedForward's pass over idx: the ARPQuerier whose output the batch
        now goes to, or None (nothing changed) when the elements must see it."""
        cdef const uint16_t* nh_port
        cdef const uint16_t* nhv
        cdef Py_ssize_t nh
        pool = self.pool
        nhs = ff._nhs
        if cnp.PyArray_SIZE(<cnp.ndarray>nhs) < n:
            nhs = ff._nhs = np.empty(max(n, cnp.PyArray_SIZE(<cnp.ndarray>pool.dst_ip)),
                                     dtype=np.uint16)
        table = ff.table.table
        table.fib.lookup_indexed(pool.dst_ip, idx, nhs)
        nhv = <const uint16_t*>_column(nhs, cnp.NPY_UINT16, False, "nhs")
        port_col = table.nh_port
        nh_port = <const uint16_t*>_column(port_col, cnp.NPY_UINT16, False, "nh_port")
        nh = nhv[0]
        if nh >= cnp.PyArray_SIZE(<cnp.ndarray>port_col):
            return None         # (forward_to_port would raise; the elements judge it)
        out = nh_port[nh]
        plan = ff.plans.get(out)
        if plan is None:
            return None
        q = plan.querier
        arp = q.table
        if arp is None or not q.ipaddr:
            return None
        if arp._index_dirty:
            arp._rebuild_index()
        now = q.router.loop.time()     # Router.now, without its Python frame
        fresh = now - arp.timeout if arp.timeout else -math.inf
        polled = now - q.poll_timeout if q.poll_timeout else -math.inf
        if not self.forward_to_port(pool, idx, nhs, port_col, table.nh_gw, out, True, plan.mtu,
                                arp._sorted_ips, arp._sorted_rows, arp._known, arp._live,
                                arp._mac, plan.src_mac, fresh, polled):
            return None
        ttl = ff.ttl if ff.ttl is not None else plan.ttl
        ttl.count += n
        return q

    cdef bint _write(self, sink, idx, Py_ssize_t n) except -1:
        """Write idx to the TAP that `sink` (a push) is KernelTun.push of, as that
        push would: True when done, False when the sink must be called instead."""
        cdef const uint16_t* length
        cdef const uint16_t* csum_start
        cdef const uint16_t* gso_size
        cdef const uint32_t* ix
        cdef Py_ssize_t i, limit, sent
        cdef uint32_t s
        cdef bint offload
        cdef int err
        if sink is not self._sink_key:
            dest = getattr(sink, "__self__", None)
            if not (isinstance(dest, self.sink_type)
                    and getattr(sink, "__func__", None) is self.sink_push and dest.tap):
                dest = None
            self._sink_key = sink
            self._sink_dest = dest
        dest = self._sink_dest
        if dest is None or dest._dev is None:
            return False
        writer = dest._writer
        if writer._waiting:
            return False
        pool = self.pool
        # KernelTun._sendable for a TAP; a device without OFFLOAD gets no frame with
        # offload state here (its push finishes those in software first).
        limit = dest.mtu + _ETHER_HLEN + _VLAN_HLEN
        offload = dest.offload
        length = <const uint16_t*>_column(pool.length, cnp.NPY_UINT16, False, "pool.length")
        csum_start = <const uint16_t*>_column(pool.csum_start, cnp.NPY_UINT16, False,
                                              "pool.csum_start")
        gso_size = <const uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16, False, "pool.gso_size")
        ix = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>idx)
        for i in range(n):
            s = ix[i]
            if (csum_start[s] or gso_size[s]) and not offload:
                return False
            if length[s] < _ETHER_HLEN or length[s] > (
                    _GSO_MAX_FRAME + _ETHER_HLEN + _VLAN_HLEN if gso_size[s] else limit):
                return False
        sent, err = writer.io.write_burst(writer.fd, pool, idx)
        writer.sent += sent
        if err == 0:
            self.slots.free_slots(idx)
            self.written += 1
            return True
        # What BurstWriter._write does past a short write.
        if sent:
            pool.free(idx[:sent])
        if err == EAGAIN:
            writer._hold(pool, idx[sent:])
            writer._wait()
        else:
            writer.drops += 1
            pool.free(idx[sent:sent + 1])
            if writer.on_error is not None:
                writer.on_error(err)
            writer._write(pool, idx[sent + 1:])
        self.written += 1
        return True



cdef Py_ssize_t _super_frames(pool, idx, Py_ssize_t n) except -1:
    """How many packets of idx are GSO super-frames (KernelTun's gso_count)."""
    cdef const uint16_t* gso_size = <const uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16,
                                                             False, "pool.gso_size")
    cdef const uint32_t* ix = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>idx)
    cdef Py_ssize_t i, k = 0
    for i in range(n):
        if gso_size[ix[i]]:
            k += 1
    return k
