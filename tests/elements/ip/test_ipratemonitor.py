"""IPRateMonitor: rates per address on the simulated clock, zooming into busy networks."""
import pytest

from vforward.graph import GraphError
from tests.clickrun import handler_texts as run, ip_data


def test_a_busy_network_is_measured_and_opened_down_to_hosts(capfd):
    out = run(capfd, f"RatedSource({ip_data('192.0.2.1', '198.51.100.2')}, RATE 200, LIMIT 800, "
                     "STOP true) -> MarkIPHeader -> m :: IPRateMonitor(PACKETS, 1, 20) -> Discard",
              "m.look", "m.thresh")
    lines = out[0].split("\n")
    assert 390 <= int(lines[0]) <= 410               # 4 s in jiffies
    rows = {ln.strip().split("\t")[0]: ln for ln in lines[1:]}
    assert set(rows) == {"192", "192.0", "192.0.2", "192.0.2.1"}
    # EWMA with weight 1/32 per 80 ms epoch after 4 s of 200/s: about 200 * (1 - (31/32)^50)
    fwd = float(rows["192"].split("\t")[1])
    assert 140 <= fwd <= 200
    assert rows["192.0.2.1"].startswith("\t\t\t192.0.2.1")
    assert out[1] == "20"


def test_reverse_rates_come_from_input_1_by_destination(capfd):
    out = run(capfd, f"RatedSource({ip_data('192.0.2.1', '198.51.100.2')}, RATE 100, LIMIT 200, "
                     "STOP true) -> MarkIPHeader -> [1]m :: IPRateMonitor(BYTES, 1, 100000); "
                     "m[1] -> Discard; Idle -> m -> Discard", "m.look")
    rows = out[0].split("\n")[1:]
    assert len(rows) == 1 and rows[0].startswith("198\t0\t")   # bytes/s, reverse only
    assert int(rows[0].split("\t")[2]) > 1000


def test_click_1_form_with_a_leading_dst_inspects_destinations(capfd):
    out = run(capfd, f"RatedSource({ip_data('192.0.2.1', '198.51.100.2')}, RATE 100, LIMIT 100, "
                     "STOP true) -> MarkIPHeader -> m :: IPRateMonitor(DST, PACKETS, 1, 10, 30) "
                     "-> Discard", "m.look")
    assert [ln.split("\t")[0] for ln in out[0].split("\n")[1:]][0] == "198"


def test_reset_forgets_the_rates(make_router):
    r = make_router("Idle -> m :: IPRateMonitor(PACKETS, 1, 10) -> Discard")
    r.initialize()
    m = r.element("m")
    m._update(0xC0000201, 1, True, True, 0, 0.0)
    assert m.read("mem") == "64"
    m.write("reset")
    assert m.read("mem") == "0"


@pytest.mark.parametrize("config, words", [
    ("FLOWS, 1, 10", "PACKETS or BYTES"),
    ("PACKETS, 2, 10", "between 0 and 1"),
    ("PACKETS, 1", "missing argument THRESH"),
])
def test_bad_arguments_name_the_argument(make_router, config, words):
    with pytest.raises(GraphError, match=words):
        make_router(f"Idle -> IPRateMonitor({config}) -> Discard")
