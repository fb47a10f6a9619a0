"""configs/examples/router.click under hostile frames: no crash, no leak, every packet
accounted for, and the compiled and reference kernels doing exactly the same."""
import pytest

from vforward.fuzz.frames import FrameMaker, ip_header
from vforward.fuzz.kernels import reference_kernels

from .conftest import ROUTER_IPS, ROUTER_MACS, router_run

SEED = 16


def feed(run, maker, n, devices, batch=64):
    """n hostile frames in batches, alternating devices; annotations sometimes absurd."""
    for i in range(0, n, batch):
        frames = [bytes(maker.hostile()) for _ in range(min(batch, n - i))]
        annos = [maker.annotations(len(f), run.pool.headroom) for f in frames]
        run.push(devices[(i // batch) % len(devices)], frames, annos)


def test_hostile_frames_leave_the_pool_full_and_every_drop_counted(closing):
    run = closing(router_run())
    feed(run, FrameMaker(SEED, ROUTER_MACS, ROUTER_IPS), 3000, ["if1", "if2"])
    run.drain()
    b = run.balance()
    assert b.problems() == []
    assert b.taken >= 3000 and b.free == b.slots
    assert b.sent > 0 and b.dropped > 0       # both happened: the stream was mixed


def test_frames_truncated_at_every_offset_are_dropped_and_counted(closing):
    run = closing(router_run())
    maker = FrameMaker(SEED, ROUTER_MACS, ROUTER_IPS)
    eth = bytes.fromhex("02000a010001" "02000a010002" "0800")
    ping = bytearray(eth + ip_header(bytes([10, 1, 0, 2]), bytes([10, 2, 0, 2]), 1, 16, ttl=1,
                                     options=b"\x01\x01\x01\x00"))
    ping += bytes.fromhex("0800f7ff0000000000000000000000000000")[:16]
    for base in (ping, maker.ipv4(), maker.arp()):
        run.push("if1", [bytes(base[:k]) for k in range(len(base) + 1)])
    run.drain()
    assert run.balance().problems() == []


def run_both(frames_by_device, make):
    """The same frames through two fresh graphs, compiled and reference; their results."""
    results = []
    for reference in (False, True):
        if reference:
            with reference_kernels() as n:
                assert n > 5, "no compiled kernel was swapped for its reference"
                run = make()
                try:
                    for dev, frames, annos in frames_by_device:
                        run.push(dev, frames, annos)
                    run.drain()
                    results.append((run.sent, run.balance()))
                finally:
                    run.close()
        else:
            run = make()
            try:
                for dev, frames, annos in frames_by_device:
                    run.push(dev, frames, annos)
                run.drain()
                results.append((run.sent, run.balance()))
            finally:
                run.close()
    return results


def hostile_batches(maker, n, devices, headroom=128, batch=32):
    out = []
    for i in range(0, n, batch):
        frames = [bytes(maker.hostile()) for _ in range(batch)]
        out.append((devices[(i // batch) % len(devices)], frames,
                    [maker.annotations(len(f), headroom) for f in frames]))
    return out


def test_compiled_and_reference_kernels_send_the_same_bytes_and_count_the_same():
    batches = hostile_batches(FrameMaker(SEED + 1, ROUTER_MACS, ROUTER_IPS), 640, ["if1", "if2"])
    (sent_c, bal_c), (sent_r, bal_r) = run_both(batches, router_run)
    for dev in ("if1", "if2"):
        assert len(sent_c[dev]) == len(sent_r[dev])
        for i, (a, b) in enumerate(zip(sent_c[dev], sent_r[dev])):
            assert a == b, f"{dev} frame {i} differs between compiled and reference kernels"
    assert bal_c.counted == bal_r.counted and bal_c.freed == bal_r.freed
    assert bal_c.problems() == [] and bal_r.problems() == []


@pytest.mark.parametrize("ttl", [0, 1, 2])
def test_ttl_0_and_1_get_time_exceeded_and_2_is_forwarded(closing, ttl):
    run = closing(router_run())
    eth = bytes.fromhex("02000a010001" "02000a010002" "0800")
    udp = bytes.fromhex("9c400035000c0000") + b"abcd"
    frame = bytes(eth + ip_header(bytes([10, 1, 0, 2]), bytes([10, 2, 0, 2]), 17, len(udp),
                                  ttl=ttl) + udp)
    run.push("if1", [frame])
    if ttl == 2:
        assert len(run.sent["if2"]) == 1 and run.sent["if2"][0][14 + 8] == 1
    else:
        assert run.sent["if2"] == [] and len(run.sent["if1"]) == 1
        assert run.sent["if1"][0][14 + 20] == 11          # ICMP time exceeded, back to A
    assert run.balance().problems() == []
