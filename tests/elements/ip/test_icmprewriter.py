"""ICMPRewriter: errors answering rewritten packets are translated back through
another rewriter's mappings; the rest goes to output 1 or is dropped."""
from vforward.clickcli import main

FLOWS = ("!data link src sport dst dport proto\\n"
         "2 198.51.100.7 20 203.0.113.8 80 T\\n2 198.51.100.7 20 203.0.113.8 80 U\\n")


def run(capfd, tail):
    main(["-e", f"""
        FromIPSummaryDump(DATA "{FLOWS}", STOP true, CHECKSUM true)
          -> rw :: IPRewriter(pattern 192.0.2.1 1024-65535# - - 0 0, REPLY_ANNO PAINT)
          -> ICMPError(192.0.2.99, timeexceeded) -> Paint(0)
          {tail}
    """, "-h", "ir.translated"])
    return capfd.readouterr()


def test_an_error_quoting_a_rewritten_packet_goes_back_to_the_original_source(capfd):
    out = run(capfd, "-> ir :: ICMPRewriter(rw, REPLY_ANNO PAINT) "
                     "-> IPPrint(x, TIMESTAMP false, PAINT true) -> Discard")
    # sent back to the private host, with the paint its flow's first packet had
    assert out.err.splitlines() == [
        "x: paint 2: 192.0.2.99 > 198.51.100.7: icmp timeexceeded transit"] * 2
    assert out.out == "2\n"


def test_errors_nothing_maps_go_to_output_1_or_are_dropped(capfd):
    out = run(capfd, "-> ir :: ICMPRewriter(other) -> Discard; ir[1] -> IPPrint(miss) -> Discard;"
                     "Idle -> other :: IPRewriter(drop) -> Discard")
    assert len([l for l in out.err.splitlines() if l.startswith("miss:")]) == 2
    assert out.out == "0\n"


def test_maps_must_name_rewriters(capfd):
    assert main(["-e", "Idle -> ICMPRewriter(d) -> d :: Discard"]) != 0
    assert "is not an IPRewriter-like element" in capfd.readouterr().err
