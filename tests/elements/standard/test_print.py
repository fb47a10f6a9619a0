"""Print: Click's one-line dump per packet on standard error."""
import pytest

from vforward.element import HandlerError
from vforward.graph import GraphError

DATA = r'"\x45\x00\x00\x54\xa1\xb2\x40\x00\x40\x01ABCDEFGHIJKLMNOPQRSTUVWXYZ"'
HEX30 = "45000054 a1b24000 40014142 43444546 4748494a 4b4c4d4e 4f505152 53545556"


def _lines(capsys):
    return capsys.readouterr().err.splitlines()


def test_prints_label_length_and_24_hex_bytes_grouped_by_four(make_router, capsys):
    r = make_router(f"InfiniteSource(DATA {DATA}, LIMIT 2) -> Print(ping) -> c :: Counter "
                    "-> Discard")
    r.run_until_idle()
    expect = "ping:   36 | " + HEX30[:53]
    assert _lines(capsys) == [expect, expect]
    assert r.element("c").count == 2


def test_maxlength_bounds_the_bytes_and_minus_one_prints_all(make_router, capsys):
    r = make_router(f"InfiniteSource(DATA {DATA}, LIMIT 1) -> Print(a, 5) -> "
                    f"Print(b, MAXLENGTH -1) -> Discard")
    r.run_until_idle()
    assert _lines(capsys) == ["a:   36 | 45000054 a1",
                              "b:   36 | " + HEX30 + " 5758595a"]


def test_no_label_means_no_prefix(make_router, capsys):
    r = make_router('InfiniteSource(DATA "\\x01\\x02", LIMIT 1) -> Print -> Discard')
    r.run_until_idle()
    assert _lines(capsys) == ["   2 | 0102"]


def test_ascii_prints_printable_bytes_and_dots(make_router, capsys):
    r = make_router(f"InfiniteSource(DATA {DATA}, LIMIT 1) -> Print(x, 14, CONTENTS ASCII) "
                    "-> Discard")
    r.run_until_idle()
    # Click's layout: a space before every group of eight characters
    assert _lines(capsys) == ["x:   36 |  E..T..@. @.ABCD"]


def test_an_empty_packet_prints_its_length_without_a_bar(make_router, capsys):
    r = make_router('InfiniteSource(DATA "", LIMIT 1) -> Print(e) -> Discard')
    r.run_until_idle()
    assert _lines(capsys) == ["e:    0"]


def test_contents_none_prints_only_the_length(make_router, capsys):
    r = make_router(f"InfiniteSource(DATA {DATA}, LIMIT 1) -> Print(x, CONTENTS NONE) -> Discard")
    r.run_until_idle()
    assert _lines(capsys) == ["x:   36"]   # as Click: no bar without bytes


def test_timestamp_and_headroom_come_before_the_length(make_router, capsys):
    r = make_router('s :: RatedSource("ab", RATE 1000, LIMIT 1, STOP true) '
                    "-> Print(t, TIMESTAMP true, HEADROOM true) -> Discard")
    r.run(duration=5)
    (line,) = _lines(capsys)
    label, stamp, rest = line.split(": ")
    sec, usec = stamp.split(".")
    assert label == "t" and int(sec) > 1_600_000_000 and len(usec) == 6
    assert rest == f"(h128 t{2048 - 128 - 2})    2 | 6162"


def test_active_handler_silences_it_on_a_pull_path(make_router, capsys):
    r = make_router("s :: InfiniteSource(LIMIT 3) -> Queue -> p :: Print(x, ACTIVE false) "
                    "-> Unqueue -> Discard")
    r.run_until_idle()
    assert _lines(capsys) == []
    p = r.element("p")
    p.write("active", "true")
    r.element("s").write("reset")
    r.run_until_idle()
    assert len(_lines(capsys)) == 3
    assert p.read("active") == "true" and p.read("count") == "3"
    with pytest.raises(HandlerError):
        p.write("active", "loud")


def test_bad_contents_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument CONTENTS.*NONE, HEX or ASCII"):
        make_router("InfiniteSource -> Print(x, CONTENTS BINARY) -> Discard")
