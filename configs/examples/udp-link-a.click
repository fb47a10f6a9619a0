// Node A of two routers joined by an Ethernet-over-UDP virtual link.
//
// Each router owns a TAP device in its node's namespace; every frame the
// node's kernel sends on it crosses the link as one UDP datagram (a 12-byte
// link header carrying the link KEY, then the frame) to the other router,
// which checks the key and the sender before handing the frame to its TAP.
//
//   ip netns add a; ip netns add b
//   vforward run configs/examples/udp-link-a.click &
//   vforward run configs/examples/udp-link-b.click &
//   ip netns exec a ping 10.60.0.2
//
// The underlay is loopback here; across hosts set LOCAL and REMOTE to the
// hosts' addresses (vforward run ... LOCAL=192.0.2.1 REMOTE=192.0.2.2).
define($NETNS a, $ADDR 10.60.0.1/24, $ETHER 02:00:00:00:60:01,
       $LOCAL 127.0.0.1, $LPORT 7100, $REMOTE 127.0.0.1, $RPORT 7101, $KEY 0x5646000000000001)

tap :: KernelTap($ADDR, NETNS $NETNS, ETHER $ETHER);
link :: Socket(UDP, $REMOTE, $RPORT, $LOCAL, $LPORT, RCVBUF 4194304);

tap -> EtherLinkEncap($KEY) -> link;
link -> decap :: EtherLinkDecap($KEY, PEER $REMOTE:$RPORT) -> tap;
decap[1] -> refused :: Counter -> Discard;
