"""ARPPrint: tcpdump's words for ARP packets."""
from vforward.clickcli import main


def test_queries_and_replies_read_as_tcpdump_prints_them(capfd):
    main(["-e", """
InfiniteSource(DATA \\<ffffffffffff 0201000a0a0f 0806 0001 0800 06 04 0001 0201000a0a0f 01000a0a 000000000000 01000001>,
               LIMIT 1, STOP true)
  -> ARPPrint(q, TIMESTAMP false, ETHER true) -> Discard;
InfiniteSource(DATA \\<0201000a0a0f 0202010b0b00 0806 0001 0800 06 04 0002 0202010b0b00 01000001 0201000a0a0f 01000a0a>,
               LIMIT 1)
  -> ARPPrint(r, TIMESTAMP false) -> Discard;
InfiniteSource(DATA \\<0201000a0a0f 0202010b0b00 0806 0001>, LIMIT 1) -> ARPPrint(TIMESTAMP false) -> Discard;
"""])
    lines = sorted(capfd.readouterr().err.splitlines())
    assert lines == ["q: 02-01-00-0A-0A-0F > FF-FF-FF-FF-FF-FF: arp who-has 1.0.0.1 tell 1.0.10.10",
                     "r: arp reply 1.0.0.1 is-at 02-02-01-0B-0B-00",
                     "truncated-arp (2)"]
