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
