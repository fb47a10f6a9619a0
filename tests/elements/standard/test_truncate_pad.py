"""Truncate and Pad: cut to a length, grow to a length or back to the IP length."""


def test_truncate_then_pad_restores_the_ip_length_with_zeros(run_summary):
    rows = ['1.0.0.1 50 "HiFart"', '1.0.0.2 - "HiFart"']
    fields = "ip_src ip_len payload"
    out_fields = "ip_src ip_len ip_capture_len payload"
    assert run_summary("Truncate(44)", rows, fields, out_fields) == \
        ['1.0.0.1 50 44 "HiFa"', '1.0.0.2 46 44 "HiFa"']
    assert run_summary("Truncate(44) -> Pad", rows, fields, out_fields) == \
        ['1.0.0.1 50 50 "HiFa\\000\\000\\000\\000\\000\\000"', '1.0.0.2 46 46 "HiFa\\000\\000"']
    assert run_summary("Truncate(42) -> Pad(44)", rows, fields, out_fields) == \
        ['1.0.0.1 50 44 "Hi\\000\\000"', '1.0.0.2 46 44 "Hi\\000\\000"']


def test_pad_leaves_longer_packets_alone(make_router):
    r = make_router("InfiniteSource(LENGTH 70, LIMIT 1) -> Pad(60) -> Truncate(100) "
                    "-> c :: Counter -> Discard")
    r.run_until_idle()
    assert r.element("c").byte_count == 70
