// router.click -- a two-interface IPv4 router
//
// The shape of Click's classic IP router (conf/ip.click, fake-iprouter.click)
// on two TAP devices.  Each TAP is a host's own interface, inside the host's
// network namespace, as the lab generator makes a router's host-facing
// ports; vforward is the whole router, with no kernel behind it:
//
//      host A (namespace $NS1)           vforward            host B (namespace $NS2)
//   +---------------------------+   +-----------------+   +---------------------------+
//   | $DEV1: $HOST1/$LEN1       |===| if1         if2 |===| $DEV2: $HOST2/$LEN2       |
//   | default via $IP1          |   | $IP1       $IP2 |   | default via $IP2          |
//   +---------------------------+   +-----------------+   +---------------------------+
//
// The router answers ARP for its two addresses and asks ARP for next hops;
// checks IP headers; looks destinations up in `rt`, whose routes change at
// run time through its add/set/remove/ctrl handlers; decrements TTLs,
// fragments for the MTU, and answers pings to its own addresses.  It sends
// ICMP errors for expired TTLs (traceroute), for DF packets that need
// fragmenting (path MTU discovery) and for destinations without a route,
// from the address of the interface the offending packet came in on.
//
// Run it (as root; the two namespaces must exist):
//   ip netns add vfr-a; ip netns add vfr-b
//   vforward run configs/examples/router.click
//   ip netns exec vfr-a ping 10.2.0.2          # replies come back with ttl=63
//   ip netns exec vfr-a traceroute -n 10.2.0.2
//   vforward ctl /tmp/vforward-router.sock read chk.drops
//   vforward ctl /tmp/vforward-router.sock write rt.add 10.3.0.0/24 10.2.0.2 2
// Every name and address is a define, so a test bed can move it:
//   vforward run configs/examples/router.click NS1=h1 NS2=h2 CTL=/run/r1.sock

define($NS1 vfr-a, $DEV1 vfr-a0, $HOST1 10.1.0.2, $HOST_ETH1 02:00:0a:01:00:02,
       $IP1 10.1.0.1, $LEN1 24, $ETH1 02:00:0a:01:00:01,
       $NS2 vfr-b, $DEV2 vfr-b0, $HOST2 10.2.0.2, $HOST_ETH2 02:00:0a:02:00:02,
       $IP2 10.2.0.1, $LEN2 24, $ETH2 02:00:0a:02:00:01,
       $MTU 1500, $OFFLOAD true, $CTL /tmp/vforward-router.sock)

ControlSocket(unix, $CTL);


// DEVICES
// (`vforward bench forward` swaps these two lines for FromDevice/ToDevice
// pairs on veth devices, to run the same router over AF_PACKET rings.)

// With OFFLOAD the TAPs take checksum and TSO offloads, as virtio NICs do:
// TCP crosses the router as 64 KB super-frames (IPFragmenter judges them by
// their segments' size).

if1 :: KernelTap($HOST1/$LEN1, GATEWAY $IP1, NETNS $NS1, DEVNAME $DEV1, ETHER $HOST_ETH1, MTU $MTU,
                 OFFLOAD $OFFLOAD);
if2 :: KernelTap($HOST2/$LEN2, GATEWAY $IP2, NETNS $NS2, DEVNAME $DEV2, ETHER $HOST_ETH2, MTU $MTU,
                 OFFLOAD $OFFLOAD);


// CLASSIFYING FRAMES
// HostEtherFilter drops frames for other hosts' MACs and marks link-level
// broadcasts, which ICMPError never answers.

c1, c2 :: Classifier(12/0806 20/0001,   // ARP queries
                     12/0806 20/0002,   // ARP replies
                     12/0800,           // IP
                     -);                // other
if1 -> HostEtherFilter($ETH1) -> c1;
if2 -> HostEtherFilter($ETH2) -> c2;
c1[3] -> Discard;
c2[3] -> Discard;


// ARP: answer queries for our own addresses; learn replies for next hops

arpq1 :: ARPQuerier($IP1/$LEN1, $ETH1);
arpq2 :: ARPQuerier($IP2/$LEN2, $ETH2);
c1[0] -> ARPResponder($IP1 $ETH1) -> if1;
c2[0] -> ARPResponder($IP2 $ETH2) -> if2;
c1[1] -> [1]arpq1;
c2[1] -> [1]arpq2;
arpq1 -> if1;
arpq2 -> if2;


// THE ROUTING TABLE
// Outputs: 0 this router; 1 interface 1; 2 interface 2; 3 no route (net
// unreachable).  Add routes with `WRITE rt.add ADDR/LEN [GATEWAY] OUTPUT`;
// replace the default with `WRITE rt.set 0.0.0.0/0 GATEWAY OUTPUT`.

rt :: RadixIPLookup($IP1/32 0,
                    $IP2/32 0,
                    $IP1/$LEN1 1,
                    $IP2/$LEN2 2,
                    0.0.0.0/0 3);


// IP INPUT: paint each packet with its interface, check the header, look
// the destination up.  chk.drops counts bad headers (checksum, lengths,
// bad source addresses); chk.drop_details says why.

ip :: Strip(14)
   -> chk :: CheckIPHeader(INTERFACES $IP1/$LEN1 $IP2/$LEN2)
   -> GetIPAddress(16)
   -> rt;
c1[2] -> Paint(1) -> ip;
c2[2] -> Paint(2) -> ip;


// PACKETS FOR THE ROUTER ITSELF: answer pings, drop the rest

rt[0] -> local :: IPClassifier(icmp type echo, -);
local[0] -> ping :: ICMPPingResponder -> rt;
local[1] -> Discard;


// OUTPUT PATHS: decrement the TTL once committed to an interface, fragment
// to the MTU, and find the next hop's Ethernet address

rt[1] -> ttl1 :: DecIPTTL -> frag1 :: IPFragmenter($MTU) -> [0]arpq1;
rt[2] -> ttl2 :: DecIPTTL -> frag2 :: IPFragmenter($MTU) -> [0]arpq2;


// ICMP ERRORS, from the address of the interface the packet came in on
// (its paint), back through the routing table

expired :: CheckPaint(1) -> ICMPError($IP1, timeexceeded) -> rt;
expired[1] -> ICMPError($IP2, timeexceeded) -> rt;
ttl1[1] -> expired;
ttl2[1] -> expired;

toobig :: CheckPaint(1) -> ICMPError($IP1, unreachable, needfrag, PMTU $MTU) -> rt;
toobig[1] -> ICMPError($IP2, unreachable, needfrag, PMTU $MTU) -> rt;
frag1[1] -> toobig;
frag2[1] -> toobig;

noroute :: CheckPaint(1) -> ICMPError($IP1, unreachable, net) -> rt;
noroute[1] -> ICMPError($IP2, unreachable, net) -> rt;
rt[3] -> noroute;
