// ipsec-tunnel.click -- two IPsec gateways and the ESP tunnel between them, in one router.
//
//   host A (namespace $NSA)                                       host B (namespace $NSB)
//   10.1.0.2 --TAP-- [gateway A 192.0.2.1] ==ESP== [gateway B 192.0.2.2] --TAP-- 10.2.0.2
//
// Each gateway is the tunnel part of Click's conf/ipsec-router.click: a
// RadixIPsecLookup whose route to the other side names the SA (SPI 234), the
// outgoing chain IPsecESPEncap -> IPsecAuthHMACSHA1(0) -> IPsecAES(1) ->
// IPsecEncap(50) and the incoming chain StripIPHeader -> IPsecAES(0) ->
// IPsecAuthHMACSHA1(1) -> IPsecESPUnencap, in Click's order.  The wire
// between the gateways is inside this router; esp_ab/esp_ba count what
// crosses it, and anything on it that is not ESP goes to `plain`.
//
//   vforward run configs/examples/ipsec-tunnel.click NSA=ipa NSB=ipb
//   ip netns exec ipa ping 10.2.0.2

define($NSA vfi-a, $DEVA vfi-a0, $NSB vfi-b, $DEVB vfi-b0,
       $SPI 234, $ENC_KEY ABCDEFFF001DEFD2354550FE40CD708E,
       $AUTH_KEY 112233EE556677888877665544332211,
       $CTL /tmp/vforward-ipsec.sock);

ControlSocket(unix, $CTL);

lana :: KernelTap(10.1.0.2/24, GATEWAY 10.1.0.1, NETNS $NSA, DEVNAME $DEVA, ETHER 02:00:0a:01:00:02);
lanb :: KernelTap(10.2.0.2/24, GATEWAY 10.2.0.1, NETNS $NSB, DEVNAME $DEVB, ETHER 02:00:0a:02:00:02);

// -- gateway A ---------------------------------------------------------------
ca :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
lana -> HostEtherFilter(02:00:0a:01:00:01) -> ca;
arpqa :: ARPQuerier(10.1.0.1/24, 02:00:0a:01:00:01) -> lana;
ca[0] -> ARPResponder(10.1.0.1 02:00:0a:01:00:01) -> lana;
ca[1] -> [1]arpqa;
ca[3] -> Discard;

rta :: RadixIPsecLookup(192.0.2.1/32 0,
                        10.2.0.0/24 192.0.2.2 1 $SPI $ENC_KEY $AUTH_KEY 1 64,
                        192.0.2.2/32 3,
                        10.1.0.0/24 4);
ca[2] -> Strip(14) -> CheckIPHeader -> rta;
rta[0] -> StripIPHeader -> IPsecAES(0) -> IPsecAuthHMACSHA1(1) -> IPsecESPUnencap
       -> CheckIPHeader -> rta;
rta[1] -> IPsecESPEncap -> IPsecAuthHMACSHA1(0) -> IPsecAES(1) -> IPsecEncap(50) -> rta;
rta[2] -> Discard;                      // gateway A's own non-ESP packets
rta[3] -> FixIPSrc(192.0.2.1) -> esp_ab :: IPClassifier(ip proto 50, -);
rta[4] -> [0]arpqa;

// -- gateway B ---------------------------------------------------------------
cb :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
lanb -> HostEtherFilter(02:00:0a:02:00:01) -> cb;
arpqb :: ARPQuerier(10.2.0.1/24, 02:00:0a:02:00:01) -> lanb;
cb[0] -> ARPResponder(10.2.0.1 02:00:0a:02:00:01) -> lanb;
cb[1] -> [1]arpqb;
cb[3] -> Discard;

rtb :: RadixIPsecLookup(192.0.2.2/32 0,
                        10.1.0.0/24 192.0.2.1 1 $SPI $ENC_KEY $AUTH_KEY 1 64,
                        192.0.2.1/32 3,
                        10.2.0.0/24 4);
cb[2] -> Strip(14) -> CheckIPHeader -> rtb;
rtb[0] -> StripIPHeader -> IPsecAES(0) -> IPsecAuthHMACSHA1(1) -> IPsecESPUnencap
       -> CheckIPHeader -> rtb;
rtb[1] -> IPsecESPEncap -> IPsecAuthHMACSHA1(0) -> IPsecAES(1) -> IPsecEncap(50) -> rtb;
rtb[2] -> Discard;
rtb[3] -> FixIPSrc(192.0.2.2) -> esp_ba :: IPClassifier(ip proto 50, -);
rtb[4] -> [0]arpqb;

// -- the wire: only ESP may cross ------------------------------------------------
plain :: Counter -> Discard;
esp_ab[0] -> ab :: Counter -> CheckIPHeader -> rtb;
esp_ba[0] -> ba :: Counter -> CheckIPHeader -> rta;
esp_ab[1] -> plain;
esp_ba[1] -> plain;
