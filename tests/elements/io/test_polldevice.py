"""PollDevice: FromDevice that makes its router poll; Click's argument orders."""
from vforward.graph import build_graph


def test_polldevice_reads_burst_or_promisc_in_second_place():
    g = build_graph("a :: PollDevice(lo, 64) -> Discard; b :: FromDevice(lo0, true, 1500) "
                    "-> Discard")
    assert g["a"].burst == 64 and not g["a"].promisc
    assert g["b"].promisc and g["b"].snaplen == 1500
    g = build_graph("a :: PollDevice(lo, true) -> Discard")
    assert g["a"].promisc and g["a"].burst == 256


def test_a_polldevice_switches_its_router_to_polling(make_router):
    r = make_router("p :: PollDevice(lo) -> Discard")
    assert not r.poll
    try:
        r.initialize()
    except Exception:       # no permission for lo here: the switch happens first anyway
        pass
    assert r.poll
