"""configs/examples/nat-gateway.click under hostile frames from both sides."""
from vforward.fuzz.frames import FrameMaker

from .conftest import NAT_IPS, NAT_MACS, nat_run
from .test_router_click import feed, hostile_batches, run_both

SEED = 1616


def test_hostile_frames_through_the_nat_leave_the_pool_full_and_every_drop_counted(closing):
    run = closing(nat_run())
    feed(run, FrameMaker(SEED, NAT_MACS, NAT_IPS), 3000, ["priv", "pub"])
    run.drain()
    b = run.balance()
    assert b.problems() == []
    assert b.sent > 0 and b.dropped > 0
    assert int(run.router.element("rw").read("nmappings")) > 0   # flows were made


def test_compiled_and_reference_kernels_agree_through_the_nat():
    batches = hostile_batches(FrameMaker(SEED + 1, NAT_MACS, NAT_IPS), 640, ["priv", "pub"])
    (sent_c, bal_c), (sent_r, bal_r) = run_both(batches, nat_run)
    for dev in ("priv", "pub"):
        assert sent_c[dev] == sent_r[dev]
    assert bal_c.counted == bal_r.counted and bal_c.problems() == [] == bal_r.problems()


def test_a_super_frame_with_tiny_segments_is_cut_and_every_slot_accounted(closing):
    """A TCP super-frame announcing 8-byte segments (180 of them) from the private
    side: the NAT cuts it in software; the segments leave, the frame's own slot
    is replaced, not dropped, and the pool is full again."""
    import struct

    from vforward.fuzz.frames import ip_header
    run = closing(nat_run())
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, 0x18, 65535, 0, 0) + bytes(1440)
    ip = ip_header(bytes([10, 0, 0, 2]), bytes([203, 0, 113, 5]), 6, len(tcp))
    frame = bytes.fromhex("02000a000001" "02000a000002" "0800") + bytes(ip) + tcp
    run.push("priv", [frame], [{"gso_type": 1, "gso_size": 8, "csum_start": 128 + 14 + 20,
                                "csum_offset": 16}])
    b = run.balance()
    assert len(run.sent["pub"]) == 180 and b.problems() == []
