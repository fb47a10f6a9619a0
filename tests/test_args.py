"""Shared element argument parsing (Click's Args) and its value types."""
import pytest

from vforward import args as A
from vforward.args import Args, ArgumentError


def test_split_respects_quotes_and_brackets():
    assert A.split_args('1, "a, b", f(x, y), [1,2]') == ["1", '"a, b"', "f(x, y)", "[1,2]"]
    assert A.split_args("") == []
    assert A.split_args("  ") == []


def test_keywords_are_upper_case_words():
    assert A.split_keyword("BURST 32") == ("BURST", "32")
    assert A.split_keyword("STOP") == ("STOP", "")
    assert A.split_keyword("allow src host 1.2.3.4") == (None, "allow src host 1.2.3.4")
    assert A.split_keyword("12/0800") == (None, "12/0800")


def test_positional_may_also_be_given_by_keyword():
    a = Args("CAPACITY 10")
    assert a.positional("CAPACITY", A.integer, default=5) == 10
    a.finish()


def test_unknown_keyword_suggests_the_nearest():
    a = Args("BRUST 10", where="u :: Unqueue")
    a.keyword("BURST", A.integer, default=1)
    with pytest.raises(ArgumentError, match="unknown keyword BRUST; did you mean BURST"):
        a.finish()


def test_too_many_positional_arguments():
    a = Args("1, 2", where="q :: Queue")
    a.positional("CAPACITY", A.integer)
    with pytest.raises(ArgumentError, match="too many arguments"):
        a.finish()


def test_positional_after_keyword_is_an_error_once_positional_arguments_are_read():
    a = Args("BURST 1, 5")
    assert a.raw == ["BURST 1", "5"]      # elements with their own language read raw
    with pytest.raises(ArgumentError, match="positional arguments first"):
        a.positional("N")


def test_bad_value_names_argument_and_expected_form():
    a = Args("ten", where="q :: Queue")
    with pytest.raises(ArgumentError, match=r"q :: Queue: argument CAPACITY: expected an integer"):
        a.positional("CAPACITY", A.integer)


@pytest.mark.parametrize("text,value", [("10ms", 0.01), ("1.5s", 1.5), ("250us", 250e-6),
                                        ("2", 2.0), ("1min", 60.0), ("3ns", 3e-9)])
def test_times(text, value):
    assert A.seconds(text) == pytest.approx(value)


@pytest.mark.parametrize("text,value", [("10Mbps", 1.25e6), ("10mbit", 1.25e6), ("1Gbps", 1.25e8),
                                        ("1MBps", 1e6), ("500", 500.0), ("64kbps", 8000.0)])
def test_bandwidths_in_bytes_per_second(text, value):
    assert A.bandwidth(text) == pytest.approx(value)


def test_bad_time_and_rate():
    with pytest.raises(ArgumentError, match="10ms"):
        A.seconds("ten")
    with pytest.raises(ArgumentError, match="10Mbps"):
        A.bandwidth("fast")


def test_addresses_and_prefixes():
    assert A.ip_address("10.0.0.1") == 0x0A000001
    assert A.ip_prefix("10.1.2.3/8") == (0x0A000000, 8)
    assert A.ip_prefix("10.0.0.0 255.255.0.0") == (0x0A000000, 16)
    assert A.ip_prefix("1.2.3.4") == (0x01020304, 32)
    assert A.ip_address_and_prefix("10.0.0.1/24") == (0x0A000001, 24)
    assert A.mac_address("00:11:22:aa:bb:cc") == bytes.fromhex("001122aabbcc")
    with pytest.raises(ArgumentError, match="IPv4 address"):
        A.ip_address("10.0.0.256")
    with pytest.raises(ArgumentError, match="Ethernet address"):
        A.mac_address("00:11:22")


def test_booleans_and_strings():
    assert A.boolean("true") and A.boolean("yes") and not A.boolean("false")
    with pytest.raises(ArgumentError):
        A.boolean("maybe")
    assert A.string('"a, b"') == "a, b"
    assert A.string(r'"a\nb"') == "a\nb"


def test_a_quoted_string_of_hex_bytes_is_the_bytes_without_the_quotes():
    assert A.string(r'"\<4600 2c>"') == "\x46\x00\x2c"
    assert A.string(r'"ab\<41>c"') == "abAc"
    assert A.string(r'\<41> "b"') == "Ab"


def test_bare_capitalised_word_is_positional_unless_a_keyword_of_that_name_is_read():
    a = Args("OK")
    assert a.positional("LABEL", A.string) == "OK"
    a.finish()
    a = Args("TCP, 7777")
    assert a.positional("TYPE") == "TCP" and a.positional("PORT", A.integer) == 7777
    a = Args("1, STOP")
    assert a.positional("N", A.integer) == 1
    assert a.keyword("STOP", A.anything, default=None) == ""
    a.finish()
