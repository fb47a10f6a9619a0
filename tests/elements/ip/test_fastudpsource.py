"""FastUDPSource: a valid Ethernet/IP/UDP frame, copied at a rate."""
from vforward.clickcli import main


def test_frames_are_valid_udp_at_the_rate(capfd):
    assert main(["--simtime", "-e",
                 "s :: FastUDPSource(100, 50, 60, 00:00:00:00:00:01, 10.0.0.1, 1234, "
                 "00:00:00:00:00:02, 10.0.0.2, 5678) -> Strip(14) -> CheckIPHeader -> "
                 "CheckUDPHeader -> c :: Counter -> Discard; DriverManager(wait 0.3s, stop)",
                 "-h", "c.count", "-h", "c.byte_count"]) == 0
    out = capfd.readouterr().out.split()
    count = int(out[1])
    assert 25 <= count <= 35 and int(out[3]) == count * 46
