"""ICMPIPEncap: the data becomes an ICMP payload inside IP."""
from vforward.clickcli import main


def test_echo_headers_with_checksums_and_a_sequence_that_counts(capfd):
    main(["-e", "InfiniteSource(DATA ab, LIMIT 2, STOP true) "
          "-> ICMPIPEncap(192.0.2.1, 192.0.2.2, echo, IDENTIFIER 7) -> CheckIPHeader -> CheckICMPHeader "
          "-> Print(CONTENTS HEX, MAXLENGTH 40) -> c :: Counter -> Discard", "-h", "c.count"])
    out = capfd.readouterr()
    assert out.out == "2\n"          # both pass the IP and ICMP checks: checksums right
    first, second = [ln.split("|")[1].replace(" ", "") for ln in out.err.splitlines()]
    assert first[:4] == "4500" and first[18:20] == "01" and first[24:40] == "c0000201c0000202"
    assert first[40:44] == "0800" and first[48:56] == "00070000" and first[56:] == "6162"
    assert second[48:56] == "00070001"


def test_error_types_take_named_codes(capfd):
    main(["-e", "InfiniteSource(DATA ab, LIMIT 1, STOP true) "
          "-> ICMPIPEncap(192.0.2.1, 192.0.2.2, unreachable, port) -> IPPrint -> Discard"])
    assert "192.0.2.1 > 192.0.2.2: icmp unreachable port" in capfd.readouterr().err
