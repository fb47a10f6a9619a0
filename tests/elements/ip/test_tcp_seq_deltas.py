"""TCPRewriter's sequence-number shifts: the transitions of one flow, and
their application to real segments (sequence, acknowledgement, SACK edges,
checksum)."""
from __future__ import annotations

import socket
import struct

import dpkt
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vforward.elements.ip.tcp_seq_deltas import SeqDeltas, seq_geq, shift_packet

FWD, REP = 0, 1


def test_sequence_numbers_move_from_the_trigger_on():
    d = SeqDeltas()
    assert d.update(FWD, 30, -12)
    assert [d.new_seq(FWD, s) for s in (0, 1, 29, 30, 100)] == [0, 1, 29, 18, 88]
    assert d.new_seq(REP, 100) == 100           # the other direction is untouched
    assert d.delta(FWD) == -12 and d.delta(REP) == 0


def test_acknowledgements_of_the_other_direction_move_back():
    d = SeqDeltas()
    d.update(FWD, 30, -12)
    # the receiver acknowledges 18 (its numbering) for the sender's 30
    assert d.new_ack(REP, 18) == 30
    assert d.new_ack(REP, 1) == 1               # before the rewritten segment's end
    assert d.new_ack(FWD, 18) == 18             # acks of the shifted direction's own packets


def test_changes_add_up_and_a_retransmission_does_not_move_twice():
    d = SeqDeltas()
    assert d.update(FWD, 30, -12)
    assert d.update(FWD, 65, -12)
    assert d.update(FWD, 30, -12)               # the first PORT segment again
    assert d.update(FWD, 65, -12)               # and the second
    assert [d.new_seq(FWD, s) for s in (0, 30, 64, 65)] == [0, 18, 52, 41]
    assert d.new_ack(REP, 41) == 65 and d.new_ack(REP, 18) == 30
    assert d.delta(FWD) == -24


def test_an_older_trigger_with_another_change_is_refused():
    d = SeqDeltas()
    d.update(FWD, 100, 5)
    assert not d.update(FWD, 50, 3)
    assert not d.update(FWD, 100 - 2**31 + 1, 3)
    assert d.new_seq(FWD, 200) == 205


def test_the_newest_trigger_may_be_given_a_new_change():
    d = SeqDeltas()
    d.update(FWD, 100, 5)
    assert d.update(FWD, 100, 7)                # replaced, not added
    assert d.new_seq(FWD, 100) == 107


def test_shifts_work_across_the_wrap_of_the_sequence_space():
    d = SeqDeltas()
    trigger = 2**32 - 10
    d.update(FWD, trigger, 4)
    assert d.new_seq(FWD, 2**32 - 20) == 2**32 - 20
    assert d.new_seq(FWD, 2**32 - 8) == 2**32 - 4
    assert d.new_seq(FWD, 5) == 9               # past the wrap: still after the trigger
    assert d.new_ack(REP, 9) == 5
    assert seq_geq(5, trigger) and not seq_geq(trigger, 5)


def test_a_gigabyte_past_the_trigger_the_shift_covers_the_whole_space():
    d = SeqDeltas()
    d.update(FWD, 65, -24)
    d.fold(FWD, 64 + 2**30)                     # not yet
    assert d.new_seq(FWD, 0) == 0
    d.fold(FWD, 65 + 2**30)
    assert d.new_seq(FWD, 0) == 2**32 - 24      # everything moves now
    assert d.new_ack(REP, 0) == 24
    assert d.delta(FWD) == -24


@settings(deadline=None)        # timing belongs in bench/, not here
@given(st.lists(st.tuples(st.integers(1, 1000), st.integers(-60, 60)), min_size=1, max_size=6),
       st.integers(0, 2**32 - 1), st.data())
def test_an_acknowledgement_of_a_shifted_number_gives_back_the_senders_number(
        changes, start, data):
    """For any byte after a rewritten segment, the receiver's ack of its shifted
    number comes back to the sender as the sender's own number."""
    d = SeqDeltas()
    trigger, triggers = start, []
    for gap, change in changes:
        trigger = (trigger + 200 + gap) % 2**32     # segments longer than any change
        assert d.update(FWD, trigger, change)
        triggers.append(trigger)
    k = data.draw(st.integers(0, len(triggers) - 1))
    seq = (triggers[k] + data.draw(st.integers(0, 100))) % 2**32
    assert d.new_ack(REP, d.new_seq(FWD, seq)) == seq
    assert (d.new_seq(FWD, seq) - seq) % 2**32 == sum(c for _, c in changes[:k + 1]) % 2**32


def _segment(seq, ack, sack=(), payload=b""):
    opts = b""
    if sack:
        opts = b"\x01\x01" + bytes([5, 2 + 8 * len(sack)]) + b"".join(
            struct.pack("!II", a, b) for a, b in sack)
    tcp = dpkt.tcp.TCP(sport=1000, dport=21, seq=seq, ack=ack, flags=0x10, opts=opts,
                       off=5 + len(opts) // 4,
                       data=payload)
    ip = dpkt.ip.IP(src=socket.inet_aton("192.0.2.1"), dst=socket.inet_aton("192.0.2.2"),
                    p=6, ttl=64, data=tcp)
    return bytes(ip)


def _shift(frame, deltas, direction):
    row = np.zeros(2048, dtype=np.uint8)
    row[100:100 + len(frame)] = np.frombuffer(frame, np.uint8)
    ok = shift_packet(row, 100, 100 + len(frame), deltas, direction)
    return ok, row[100:100 + len(frame)].tobytes()


def _tcp_checksum_ok(raw):
    seg = raw[20:]
    return dpkt.in_cksum(raw[12:20] + struct.pack("!BBH", 0, 6, len(seg)) + seg) == 0


def test_a_segment_gets_its_sequence_ack_and_sack_edges_shifted_with_a_valid_checksum():
    d = SeqDeltas()
    d.update(FWD, 30, -12)
    d.update(REP, 500, 3)
    ok, raw = _shift(_segment(40, 510, payload=b"hello"), d, FWD)
    tcp = dpkt.ip.IP(raw).data
    assert ok and (tcp.seq, tcp.ack) == (28, 507) and _tcp_checksum_ok(raw)
    ok, raw = _shift(_segment(503, 18, sack=[(1, 18), (18, 20)]), d, REP)
    tcp = dpkt.ip.IP(raw).data
    assert ok and (tcp.seq, tcp.ack) == (506, 30)
    at = tcp.opts.index(b"\x05\x12")
    assert struct.unpack("!IIII", tcp.opts[at + 2:at + 18]) == (1, 30, 30, 32)
    assert _tcp_checksum_ok(raw)


def test_a_segment_without_its_whole_tcp_header_is_left_alone():
    d = SeqDeltas()
    d.update(FWD, 0, 5)
    frame = _segment(40, 0)[:30]
    ok, raw = _shift(frame, d, FWD)
    assert not ok and raw == frame


def test_a_segment_of_a_flow_without_shift_in_its_direction_keeps_its_numbers():
    d = SeqDeltas()
    d.update(FWD, 30, -12)
    frame = _segment(40, 510)
    ok, raw = _shift(frame, d, FWD)              # seq moves; acks of REP have no shift
    assert ok and dpkt.ip.IP(raw).data.ack == 510
