// nat-gateway.click -- a NAT gateway between a private network and a "public" one
//
// The structure of Click's mazu-nat.click and thomer-nat.click, on two TAP
// devices whose kernel sides live in network namespaces:
//
//      private namespace                vforward                public namespace
//   +------------------------+    +---------------------+    +-------------------+
//   | 10.0.0.2/24            |    | 10.0.0.1   NAT addr |    | 198.51.100.2/24   |
//   | default via 10.0.0.1   |====| (priv)  198.51.100.1|====| (the "Internet":  |
//   | dev $PRIV_DEV          |    |              (pub)  |    |  a server)        |
//   +------------------------+    +---------------------+    +-------------------+
//
// Flows the private side starts (TCP, UDP, ping) leave from $NAT_ADDR with
// a port from 1024-65535; their replies, and ICMP errors about them, find
// the way back.  Nothing else from the public side gets in: IPRewriter's
// second input spec is 'drop', and packets for any address other than
// $NAT_ADDR are discarded before they reach it.  The gateway answers ARP
// for its two addresses and pings to 10.0.0.1, and sends "time exceeded"
// for packets whose TTL runs out.
//
// Run it (as root; the namespaces must exist):
//   ip netns add vfnat-priv; ip netns add vfnat-pub
//   vforward run configs/examples/nat-gateway.click
//   ip netns exec vfnat-priv ping 198.51.100.2
//   ip netns exec vfnat-pub tcpdump -ni vfnat-out     # sees only 198.51.100.1
// Every name and address below is a define, so a test bed can move it:
//   vforward run configs/examples/nat-gateway.click PRIV_NS=h1 UDP_TIMEOUT=30s

// PRIV_HOST and PUB_HOST are the namespaces' ends of the TAPs; PUB_GW is the
// next hop for everything not on PUB_NET.
define($PRIV_NS vfnat-priv, $PRIV_DEV vfnat-in, $PRIV_HOST 10.0.0.2/24,
       $PRIV_ADDR 10.0.0.1, $PRIV_NET 10.0.0.0/24, $PRIV_ETH 02:00:0a:00:00:01,
       $PUB_NS vfnat-pub, $PUB_DEV vfnat-out, $PUB_HOST 198.51.100.2/24,
       $PUB_GW 198.51.100.2,
       $NAT_ADDR 198.51.100.1, $PUB_NET 198.51.100.0/24, $PUB_ETH 02:00:c6:33:64:01,
       $TCP_TIMEOUT 24h, $TCP_DONE_TIMEOUT 240s, $TCP_NODATA_TIMEOUT 5min,
       $UDP_TIMEOUT 5min, $ICMP_TIMEOUT 5min, $REAP_INTERVAL 15s)

// DEVICES

priv :: KernelTap($PRIV_HOST, GATEWAY $PRIV_ADDR, NETNS $PRIV_NS, DEVNAME $PRIV_DEV);
pub  :: KernelTap($PUB_HOST, NETNS $PUB_NS, DEVNAME $PUB_DEV);


// ARP MACHINERY

priv_cl, pub_cl :: Classifier(12/0806 20/0001,   // ARP queries
                              12/0806 20/0002,   // ARP replies
                              12/0800,           // IP
                              -);
priv_arpq :: ARPQuerier($PRIV_ADDR, $PRIV_ETH);
pub_arpq  :: ARPQuerier($NAT_ADDR, $PUB_ETH);

priv -> priv_cl;
priv_cl[0] -> ARPResponder($PRIV_ADDR $PRIV_ETH) -> priv;
priv_cl[1] -> [1]priv_arpq;
priv_cl[3] -> Discard;
priv_arpq -> priv;

pub -> pub_cl;
pub_cl[0] -> ARPResponder($NAT_ADDR $PUB_ETH) -> pub;
pub_cl[1] -> [1]pub_arpq;
pub_cl[3] -> Discard;
pub_arpq -> pub;


// THE REWRITER
// input 0: from the private side, new flows get the NAT address and a port;
// input 1: from the public side, only replies of known flows pass.
// output 0 leads out to the public side, output 1 back in to the private side.

rw :: IPRewriter(pattern $NAT_ADDR 1024-65535 - - 0 1,
                 drop,
                 TCP_TIMEOUT $TCP_TIMEOUT, TCP_DONE_TIMEOUT $TCP_DONE_TIMEOUT,
                 TCP_NODATA_TIMEOUT $TCP_NODATA_TIMEOUT,
                 UDP_TIMEOUT $UDP_TIMEOUT, ICMP_TIMEOUT $ICMP_TIMEOUT,
                 REAP_INTERVAL $REAP_INTERVAL);


// OUTPUT PATHS: route (the gateway annotation for remote hosts), then ARP

to_pub  :: LookupIPRoute($PUB_NET 0, 0.0.0.0/0 $PUB_GW 0) -> [0]pub_arpq;
to_priv :: LookupIPRoute($PRIV_NET 0) -> [0]priv_arpq;

rw[0] -> to_pub;
rw[1] -> to_priv;


// IP FROM THE PRIVATE SIDE

priv_cl[2] -> Strip(14)
    -> CheckIPHeader
    -> from_priv :: IPClassifier(dst host $PRIV_ADDR,    // the gateway itself
                                 dst net $PRIV_NET,      // local traffic: not ours
                                 -);                     // the world
from_priv[0] -> for_gw :: IPClassifier(icmp type echo, -)
    -> ICMPPingResponder -> to_priv;
for_gw[1] -> Discard;
from_priv[1] -> Discard;
from_priv[2] -> out_ttl :: DecIPTTL -> [0]rw;
out_ttl[1] -> ICMPError($PRIV_ADDR, timeexceeded) -> to_priv;


// IP FROM THE PUBLIC SIDE

pub_cl[2] -> Strip(14)
    -> CheckIPHeader
    -> from_pub :: IPClassifier(dst host $NAT_ADDR, -);
from_pub[0] -> in_ttl :: DecIPTTL -> [1]rw;
in_ttl[1] -> ICMPError($NAT_ADDR, timeexceeded) -> to_pub;
from_pub[1] -> Discard;          // for anyone else: never routed inside
