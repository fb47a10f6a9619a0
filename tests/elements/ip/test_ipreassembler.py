"""IPReassembler: fragments in any order become the original datagram."""

def _frags_config(order_element=""):
    return ("InfiniteSource(LIMIT 1, STOP true, LENGTH 200) -> UDPIPEncap(1.0.0.1, 2, 3.0.0.3, 4) "
            "-> orig :: Tee -> Discard; orig[1] -> IPFragmenter(60) -> c :: Counter "
            f"{order_element}-> r :: IPReassembler -> CheckIPHeader -> CheckUDPHeader -> "
            "whole :: Counter -> Discard")


def test_in_order_fragments_make_one_valid_datagram(make_router):
    r = make_router(_frags_config())
    r.run(duration=10)
    assert r.element("c").count > 3 and r.element("whole").count == 1
    assert r.element("whole").byte_count == 228 and r.element("r").read("stored") == "0"


def test_fragments_of_fragments_reassemble(make_router):
    r = make_router(_frags_config("-> IPFragmenter(40) "))
    r.run(duration=10)
    assert r.element("whole").count == 1


def test_unfragmented_packets_pass_and_bad_ones_go_to_output_1(make_router):
    r = make_router("InfiniteSource(LIMIT 3, STOP true) -> UDPIPEncap(1.0.0.1, 2, 3.0.0.3, 4) "
                    "-> re :: IPReassembler -> ok :: Counter -> Discard;"
                    "InfiniteSource(LIMIT 2, STOP true, LENGTH 10) -> MarkIPHeader -> re2 :: "
                    "IPReassembler -> Discard; re2[1] -> bad :: Counter -> Discard")
    r.run(duration=10)
    assert r.element("ok").count == 3 and r.element("bad").count == 2
