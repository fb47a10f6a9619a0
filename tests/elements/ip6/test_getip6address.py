"""GetIP6Address, and CheckIP6Header's BADADDRS."""
from vforward.clickcli import main

PACKET = ("60000000 0000 3b 40 20010db8000000000000000000000001 "
          "20010db8000000000000000000000002")


def test_the_address_at_offset_becomes_the_destination_annotation(capfd):
    # LookupIP6Route reads dst_ip6: only the annotation can send it to output 1
    main(["-e", f"InfiniteSource(DATA \\<{PACKET}>, LIMIT 1, STOP true) -> GetIP6Address(24) "
          "-> rt :: LookupIP6Route(2001:db8::2/128 1, ::/0 0); rt[0] -> c0 :: Counter -> Discard; "
          "rt[1] -> c1 :: Counter -> Discard", "-h", "c1.count"])
    assert capfd.readouterr().out == "1\n"


def test_badaddrs_refuses_those_sources(capfd):
    main(["-e", f"InfiniteSource(DATA \\<{PACKET}>, LIMIT 2, STOP true) "
          "-> c :: CheckIP6Header(2001:db8::1 2001:db8::9) -> Discard; c[1] -> bad :: Counter -> Discard",
          "-h", "bad.count"])
    assert capfd.readouterr().out == "2\n"
