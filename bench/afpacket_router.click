// afpacket_router.click -- a two-interface IPv4 router on AF_PACKET, as a Click user writes it
//
// FromDevice/ToDevice on two veth devices with a Queue in front of each
// ToDevice, BURST 32, and no vforward-specific keyword: the same file runs
// under Click userlevel and under `vforward run`, with each one's defaults.
// bench/bench_afpacket_click.py runs it in a router namespace between two
// host namespaces:
//
//   host A: $HOST1/24 --- $DEV1 [router] $DEV2 --- host B: $HOST2/24
//
// The router answers ARP for its two addresses, asks ARP for next hops,
// checks IP headers, looks destinations up and decrements TTLs.

define($DEV1 r1, $DEV2 r2, $IP1 10.1.0.1, $IP2 10.2.0.1,
       $ETH1 02:00:0a:01:00:01, $ETH2 02:00:0a:02:00:01)

out1 :: Queue(1000) -> ToDevice($DEV1, BURST 32);
out2 :: Queue(1000) -> ToDevice($DEV2, BURST 32);

c1, c2 :: Classifier(12/0806 20/0001,   // ARP queries
                     12/0806 20/0002,   // ARP replies
                     12/0800,           // IP
                     -);                // other
FromDevice($DEV1, BURST 32) -> c1;
FromDevice($DEV2, BURST 32) -> c2;
c1[3] -> Discard;
c2[3] -> Discard;

arpq1 :: ARPQuerier($IP1, $ETH1) -> out1;
arpq2 :: ARPQuerier($IP2, $ETH2) -> out2;
c1[0] -> ARPResponder($IP1 $ETH1) -> out1;
c2[0] -> ARPResponder($IP2 $ETH2) -> out2;
c1[1] -> [1]arpq1;
c2[1] -> [1]arpq2;

rt :: StaticIPLookup($IP1/32 0, $IP2/32 0, 10.1.0.0/24 1, 10.2.0.0/24 2);
ip :: Strip(14) -> CheckIPHeader -> GetIPAddress(16) -> rt;
c1[2] -> Paint(1) -> ip;
c2[2] -> Paint(2) -> ip;

rt[0] -> Discard;
rt[1] -> DecIPTTL -> [0]arpq1;
rt[2] -> DecIPTTL -> [0]arpq2;
