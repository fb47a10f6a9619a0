// Node B of two routers joined by an Ethernet-over-UDP virtual link: the
// mirror image of udp-link-a.click (same KEY, ports swapped).
define($NETNS b, $ADDR 10.60.0.2/24, $ETHER 02:00:00:00:60:02,
       $LOCAL 127.0.0.1, $LPORT 7101, $REMOTE 127.0.0.1, $RPORT 7100, $KEY 0x5646000000000001)

tap :: KernelTap($ADDR, NETNS $NETNS, ETHER $ETHER);
link :: Socket(UDP, $REMOTE, $RPORT, $LOCAL, $LPORT, RCVBUF 4194304);

tap -> EtherLinkEncap($KEY) -> link;
link -> decap :: EtherLinkDecap($KEY, PEER $REMOTE:$RPORT) -> tap;
decap[1] -> refused :: Counter -> Discard;
