"""FixIPSrc: only the packets ICMPError marked get the new source."""
from vforward.clickcli import main

# an IPv4/UDP packet from 198.51.100.7 to 192.0.2.1, TTL 1 so DecIPTTL refuses it
PACKET = "45000020 00000000 0111 0000 c6336407 c0000201 00010002 000c0000 61626364"


def test_icmp_errors_get_the_address_and_other_packets_keep_theirs(capfd):
    main(["-e", f"""
src :: InfiniteSource(DATA \\<{PACKET}>, LIMIT 1, STOP true) -> CheckIPHeader(CHECKSUM false)
  -> t :: Tee;
t[0] -> dec :: DecIPTTL -> Discard;
dec[1] -> ICMPError(192.0.2.1, timeexceeded) -> fix1 :: FixIPSrc(203.0.113.9) -> IPPrint(err) -> Discard;
t[1] -> fix2 :: FixIPSrc(203.0.113.9) -> IPPrint(plain) -> Discard;
""", "-h", "fix1.count", "-h", "fix2.count"])
    got = capfd.readouterr()
    assert got.out.split() == ["fix1.count:", "1", "fix2.count:", "0"]
    err = {ln.split(":")[0]: ln for ln in got.err.splitlines()}
    assert "203.0.113.9 > 198.51.100.7" in err["err"]
    assert "198.51.100.7" in err["plain"] and "203.0.113.9" not in err["plain"]
