// The default demo: read a bundled capture, sort its frames by protocol,
// count each kind, and write the IPv4 packets (without their Ethernet
// header) to a new capture that tcpdump and tshark can read.
define($IN sample.pcap, $OUT demo-ip.pcap)

src :: FromDump($IN, STOP true)
  -> frames :: Counter
  -> eth :: Classifier(12/0800, 12/0806, -);

eth[0] -> ip :: Counter -> Strip(14) -> ToDump($OUT, ENCAP IP);
eth[1] -> arp :: Counter -> Discard;
eth[2] -> other :: Counter -> Discard;
