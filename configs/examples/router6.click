// router6.click -- a two-interface IPv6 router
//
// router.click's shape for IPv6, on two TAP devices, each a host's own
// interface inside the host's network namespace; vforward is the whole
// router, with no kernel behind it:
//
//      host A (namespace $NS1)              vforward              host B (namespace $NS2)
//   +------------------------------+   +-----------------+   +------------------------------+
//   | $DEV1: $HOST1/64             |===| if1         if2 |===| $DEV2: $HOST2/64             |
//   | default via $IP1             |   | $IP1       $IP2 |   | default via $IP2             |
//   +------------------------------+   +-----------------+   +------------------------------+
//
// The router answers neighbour solicitations for its two addresses and
// solicits its next hops (neighbour discovery, RFC 4861); checks IPv6
// headers; looks destinations up in `rt`, whose routes change at run time
// through its add/set/remove/ctrl handlers; decrements hop limits.  It sends
// ICMPv6 errors for expired hop limits (traceroute -6), for packets too big
// for the outgoing link (path-MTU discovery: IPv6 routers never fragment)
// and for destinations without a route.
//
// KernelTap configures an IPv4 address on each host side (it takes one);
// the hosts' IPv6 addresses and default routes are set by whoever made the
// namespaces:
//   ip netns add vfr6-a; ip netns add vfr6-b
//   vforward run configs/examples/router6.click &
//   ip -n vfr6-a -6 addr add 2001:db8:1::2/64 dev vfr6-a0 nodad
//   ip -n vfr6-a -6 route add default via 2001:db8:1::1
//   ip -n vfr6-b -6 addr add 2001:db8:2::2/64 dev vfr6-b0 nodad
//   ip -n vfr6-b -6 route add default via 2001:db8:2::1
//   ip netns exec vfr6-a ping -6 2001:db8:2::2     # replies come back with hlim 63
//   vforward ctl /tmp/vforward-router6.sock read nds2.table
//   vforward ctl /tmp/vforward-router6.sock write rt.add 2001:db8:3::/48 2001:db8:2::2 2

define($NS1 vfr6-a, $DEV1 vfr6-a0, $HOST1 2001:db8:1::2, $HOST_ETH1 02:00:0a:01:00:02,
       $IP1 2001:db8:1::1, $NET1 2001:db8:1::/64, $ETH1 02:00:0a:01:00:01, $MTU1 1500,
       $V4HOST1 192.0.2.2/25,
       $NS2 vfr6-b, $DEV2 vfr6-b0, $HOST2 2001:db8:2::2, $HOST_ETH2 02:00:0a:02:00:02,
       $IP2 2001:db8:2::1, $NET2 2001:db8:2::/64, $ETH2 02:00:0a:02:00:01, $MTU2 1500,
       $V4HOST2 192.0.2.130/25,
       $CTL /tmp/vforward-router6.sock)

ControlSocket(unix, $CTL);


// DEVICES

if1 :: KernelTap($V4HOST1, NETNS $NS1, DEVNAME $DEV1, ETHER $HOST_ETH1, MTU $MTU1);
if2 :: KernelTap($V4HOST2, NETNS $NS2, DEVNAME $DEV2, ETHER $HOST_ETH2, MTU $MTU2);


// CLASSIFYING FRAMES: neighbour solicitations (ICMPv6 type 135), neighbour
// advertisements (136), other IPv6, and the rest (IPv4, ARP) dropped

c1, c2 :: Classifier(12/86dd 20/3a 54/87,
                     12/86dd 20/3a 54/88,
                     12/86dd,
                     -);
if1 -> HostEtherFilter($ETH1) -> c1;
if2 -> HostEtherFilter($ETH2) -> c2;
c1[3] -> Discard;
c2[3] -> Discard;


// NEIGHBOUR DISCOVERY: answer for our addresses; learn next hops

nds1 :: IP6NDSolicitor($IP1, $ETH1);
nds2 :: IP6NDSolicitor($IP2, $ETH2);
c1[0] -> IP6NDAdvertiser($IP1 $ETH1) -> if1;
c2[0] -> IP6NDAdvertiser($IP2 $ETH2) -> if2;
c1[1] -> [1]nds1;
c2[1] -> [1]nds2;
nds1 -> if1;
nds2 -> if2;


// THE ROUTING TABLE
// Outputs: 0 this router; 1 interface 1; 2 interface 2; 3 no route.

rt :: LookupIP6Route($IP1/128 0,
                     $IP2/128 0,
                     $NET1 1,
                     $NET2 2,
                     ::/0 3);


// IPv6 INPUT: paint each packet with its interface, check the header, look
// the destination up

ip :: Strip(14)
   -> chk :: CheckIP6Header
   -> rt;
c1[2] -> Paint(1) -> ip;
c2[2] -> Paint(2) -> ip;

rt[0] -> Discard;


// OUTPUT PATHS: decrement the hop limit, check the link MTU, find the next
// hop's Ethernet address

rt[1] -> hl1 :: DecIP6HLim -> mtu1 :: CheckLength($MTU1) -> [0]nds1;
rt[2] -> hl2 :: DecIP6HLim -> mtu2 :: CheckLength($MTU2) -> [0]nds2;


// ICMPv6 ERRORS, back through the routing table

expired :: CheckPaint(1) -> ICMP6Error($IP1, timeexceeded) -> rt;
expired[1] -> ICMP6Error($IP2, timeexceeded) -> rt;
hl1[1] -> expired;
hl2[1] -> expired;

// Packet too big comes, as from Linux, from the address of the interface
// the error leaves by (the route back to the sender), not the one the packet
// was too big for: SOURCES gives the address of each of rt's outputs.
mtu1[1] -> ICMP6Error($IP1, toobig, PMTU $MTU1, ROUTES rt, SOURCES "- $IP1 $IP2") -> rt;
mtu2[1] -> ICMP6Error($IP2, toobig, PMTU $MTU2, ROUTES rt, SOURCES "- $IP1 $IP2") -> rt;

noroute :: CheckPaint(1) -> ICMP6Error($IP1, unreachable, noroute) -> rt;
noroute[1] -> ICMP6Error($IP2, unreachable, noroute) -> rt;
rt[3] -> noroute;
