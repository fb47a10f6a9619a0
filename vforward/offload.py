"""Software offload fallback for packets that leave through a sink without offloads.

A device opened with offloads (KernelTap OFFLOAD true) hands the router
packets whose checksum the kernel left to finish and TCP/UDP super-frames of
up to 64 KB (the pool's offload annotations say which).  A sink that cannot
pass that state on (a UDP tunnel, a packet socket, a device without
offloads) calls `software_offload` first: checksums are finished and
super-frames cut into MTU-sized segments, as Linux does in front of a
device that lacks the offload.  Packets without offload state cost one
compiled scan.
"""
from __future__ import annotations

import numpy as np

from vforward.packet import GSO_UDP_L4, Batch

from vforward import kernels

_gso = kernels.load("gso")


def software_offload(batch: Batch) -> tuple[Batch, int]:
    """(the batch with checksums finished and super-frames segmented, packets dropped).

    Dropped packets are those with offload state that does not parse or
    whose segments found no free slots; their slots are freed.
    """
    pool = batch.pool
    if not len(batch.idx) or not _gso.needs_resolve(pool, batch.idx):
        return batch, 0
    out, malformed, exhausted = _gso.resolve(pool, batch.idx)
    return Batch(pool, out), malformed + exhausted


def segment_ip_lengths(pool, idx) -> np.ndarray:
    """IP length of the segments each packet of idx leaves as (0 for packets that are
    not super-frames): what must fit an MTU, as Linux's skb_gso_validate_network_len."""
    gso = pool.gso_size[idx].astype(np.int64)
    start = pool.csum_start[idx].astype(np.int64)
    doff = pool.data[idx, np.minimum(start + 12, pool.slot_size - 1)] >> 4
    l4 = np.where((pool.gso_type[idx] & 0x7F) == GSO_UDP_L4, 8, doff.astype(np.int64) * 4)
    return np.where(gso > 0, start - pool.nh[idx] + l4 + gso, 0)
