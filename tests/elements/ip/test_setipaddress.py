"""SetIPAddress and StripToNetworkHeader."""


def test_setipaddress_sets_the_destination_annotation(make_router):
    r = make_router("InfiniteSource(LIMIT 2) -> SetIPAddress(10.1.2.3) -> GetIPAddress(16) "
                    "-> s :: SetIPAddress(10.9.9.9) -> Discard")
    r.run_until_idle()
    assert r.element("s").read("addr") == "10.9.9.9"


def test_strip_to_network_header_keeps_the_ip_packet(run_summary):
    out = run_summary("EtherEncap(0x0800, 00:00:00:00:00:01, 00:00:00:00:00:02) -> "
                      "StripToNetworkHeader", ["1.0.0.1 1.0.0.2"], "src dst",
                      "src dst ip_capture_len")
    assert out == ["1.0.0.1 1.0.0.2 40"]
