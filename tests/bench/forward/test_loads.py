"""vforward/bench/forward/loads.py: the flood's frame."""
import dpkt

from vforward.bench.forward.loads import udp_frame
from vforward.bench.forward.testbed import ETH1, FRAME_SIZE, HOST1, HOST2, SINK_PORT


def test_the_flood_frame_is_a_valid_udp_packet_to_the_router():
    frame = udp_frame()
    assert len(frame) == FRAME_SIZE
    eth = dpkt.ethernet.Ethernet(frame)
    assert eth.dst == bytes.fromhex(ETH1.replace(":", ""))
    ip = eth.data
    assert (dpkt.utils.inet_to_str(ip.src), dpkt.utils.inet_to_str(ip.dst)) == (HOST1, HOST2)
    assert ip.ttl == 64 and ip.data.dport == SINK_PORT
    # the checksum the ipheader kernel wrote is the one dpkt computes afresh
    written = ip.sum
    ip.sum = 0
    assert dpkt.ip.IP(bytes(ip)).sum == written != 0


def test_a_bigger_frame_keeps_a_valid_checksum():
    ip = dpkt.ethernet.Ethernet(udp_frame(1000)).data
    written = ip.sum
    ip.sum = 0
    assert ip.len == 1000 - 14 and dpkt.ip.IP(bytes(ip)).sum == written
