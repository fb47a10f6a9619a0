"""FlowRoutes: pinned flows leave by their next hop's output with the gateway
as destination annotation; everything else passes to the route table; flows
change at run time and bad ones are refused with the reason."""
import dpkt
import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register


def _addr(text):
    return bytes(int(x) for x in text.split("."))


def udp(dport, dst="10.9.0.1"):
    return bytes(dpkt.ip.IP(src=_addr("10.1.0.1"), dst=_addr(dst), p=17,
                            data=dpkt.udp.UDP(sport=4000, dport=dport)))


class _Frames(Element):
    """_FlowRoutesFrames -- test source pushing IP packets with their header annotation set"""
    CLASS_NAME = "_FlowRoutesFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()

    def send(self, frames):
        pool = self.router.pool
        batch = pool.from_bytes(frames)
        pool.nh[batch.idx] = pool.off[batch.idx]
        pool.dst_ip[batch.idx] = [int.from_bytes(f[16:20], "big") for f in frames]
        self.emit(0, batch)


class _Sink(Element):
    """_FlowRoutesSink -- test sink keeping (destination port, dst annotation) per packet"""
    CLASS_NAME = "_FlowRoutesSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received = []

    def push(self, port, batch):
        for data, slot in zip(batch.to_bytes(), batch.idx):
            self.received.append((int.from_bytes(data[22:24], "big"),
                                  int(batch.pool.dst_ip[slot])))
        batch.kill()


register(_Frames)
register(_Sink)

GW = int.from_bytes(_addr("10.0.0.6"), "big")
DST = int.from_bytes(_addr("10.9.0.1"), "big")


@pytest.fixture
def router(make_router):
    r = make_router("src :: _FlowRoutesFrames -> f :: FlowRoutes -> table :: _FlowRoutesSink;"
                    "f[1] -> out0 :: _FlowRoutesSink; f[2] -> out1 :: _FlowRoutesSink;")
    r.initialize()
    return r


def test_without_flows_every_packet_goes_to_the_table(router):
    router.element("src").send([udp(5004), udp(80)])
    assert router.element("table").received == [(5004, DST), (80, DST)]
    assert router.element("f").read("count") == "0"


def test_a_pinned_flow_takes_its_next_hop_and_only_it(router):
    f = router.element("f")
    f.write("add", "video 10.0.0.6 1 udp and dst port 5004")
    router.element("src").send([udp(5004), udp(80), udp(5004), udp(5005)])
    assert router.element("out1").received == [(5004, GW), (5004, GW)]
    assert router.element("table").received == [(80, DST), (5005, DST)]
    assert router.element("out0").received == []
    assert f.read("flows") == "video\t10.0.0.6\t1\t2\tudp and dst port 5004\n"
    f.write("remove", "video")
    router.element("src").send([udp(5004)])
    assert router.element("table").received[-1] == (5004, DST)
    assert f.read("flows") == ""


def test_the_first_flow_added_wins_and_no_gateway_keeps_the_destination(router):
    f = router.element("f")
    f.write("add", "a - 0 udp")
    f.write("add", "b 10.0.0.6 1 dst port 5004")
    router.element("src").send([udp(5004)])
    assert router.element("out0").received == [(5004, DST)]
    assert router.element("out1").received == []


def test_bad_flows_are_refused_with_the_reason(router):
    f = router.element("f")
    with pytest.raises(HandlerError, match="not connected"):
        f.write("add", "x 10.0.0.6 5 udp")
    with pytest.raises(HandlerError, match="flow 'x'"):
        f.write("add", "x 10.0.0.6 1 udp and dst prot 5")
    with pytest.raises(HandlerError, match="NAME GATEWAY OUTPUT PATTERN"):
        f.write("add", "x 10.0.0.6")
    f.write("add", "x 10.0.0.6 1 udp")
    with pytest.raises(HandlerError, match="exists"):
        f.write("add", "x 10.0.0.6 1 tcp")
    with pytest.raises(HandlerError, match="no flow 'y'"):
        f.write("remove", "y")
