"""The IPFilter/IPClassifier pattern language: Click's manual examples parse,
abbreviations mean what their long forms mean, and bad patterns are refused
with the bad word pointed at."""
import pytest

from vforward.elements.ip.ipfilter_language import (And, Compare, Const, Not, Or, PatternError,
                                                    Present, IP_DST, IP_PROTO, IP_SRC, IP_TTL,
                                                    parse_pattern, tokenize, tree_text)

# Every pattern of Click's IPFilter and IPClassifier manual pages, with the
# AddressInfo names written out as addresses.
CLICK_MANUAL_PATTERNS = [
    "10.0.0.0/24 and syn",
    "10.0.0.0/24 and fin ack",
    "10.0.0.0/24 and tcp",
    "-",
    "dst tcp port 8000 or 8080",
    "dst tcp port > 1023",
    "tcp",
    "(dst port www or dst port ssh) and tcp opt syn",
    "src host == 10.0.0.10",
    "src host != 10.0.0.10",
    "src tcp port != 5",
    "!(src tcp port == 5)",
    "icmp type != 4",
    "src tcp port & 10 == 8",
    "src port 80 or 81",
    "src 10.0.0.0/8",
    "src 192.0.2.1 && dst 10.0.0.0/8 && tcp && src port www && dst port > 1023 && ack",
    "dst 10.0.0.0/8 && tcp && src port 23 && dst port > 1023 && ack",
    "dst 10.0.0.0/8 && tcp && src port 22 && ack",
    "dst 10.0.0.0/8 && tcp && dst port 22",
    "src 192.0.2.1 && dst 10.0.0.25 && tcp && src port > 1023 && dst port 25",
    "src 192.0.2.9 && dst 10.0.0.53 && udp && src port 53 && dst port 53",
    "all",
    "any",
    "ip proto tcp", "ip proto 6", "src or dst host 1.2.3.4", "src and dst host 1.2.3.4",
    "src net 10.0.0.0 mask 255.0.0.0", "ip vers 4", "ip hl 5", "ip id 1234", "ip tos 16",
    "ip dscp 46", "ip ect", "ip ce", "ip ttl 64", "ip frag", "ip unfrag", "tcp opt syn",
    "tcp win 8192", "icmp type echo-reply", "ip[9] == 6", "ip[6:2] & 0x1fff != 0",
    "transp[0:2] == 53", "tcp[13] & 2 != 0", "true", "false", "ip len > 1400",
]


@pytest.mark.parametrize("pattern", CLICK_MANUAL_PATTERNS)
def test_click_manual_patterns_parse(pattern):
    tree = parse_pattern(pattern)
    assert tree_text(tree)


def same(a, b):
    return parse_pattern(a) == parse_pattern(b)


@pytest.mark.parametrize("short, long", [
    ("tcp", "ip proto tcp"),
    ("tcp", "ip proto 6"),
    ("tcp", "proto tcp"),
    ("tcp", "ip proto == tcp"),
    ("src host 1.2.3.4 or 5.6.7.8", "src host 1.2.3.4 or src host 5.6.7.8"),
    ("src port 80 or 81", "src port 80 or src port 81"),
    ("dst tcp port 8000 or 8080", "dst tcp port 8000 or dst tcp port 8080"),
    ("dst port 22 or www", "dst port 22 or dst port 80"),
    ("ip ttl > 200 or < 5", "ip ttl > 200 or ip ttl < 5"),
    ("ip proto tcp or udp", "tcp or udp"),
    ("10.0.0.0/24 and syn", "src or dst net 10.0.0.0/24 and tcp opt syn"),
    ("10.0.0.0 mask 255.255.255.0", "net 10.0.0.0/24"),
    ("net 10.0.0.0/255.0.0.0", "net 10.0.0.0/8"),
    ("1.2.3.4", "src or dst host 1.2.3.4"),
    ("www", "port www"),
    ("www", "tcpudp port 80"),
    ("syn", "tcp opt syn"),
    ("tcp flags syn", "tcp opt syn"),
    ("tcp syn", "tcp and tcp opt syn"),
    ("fin ack", "tcp opt fin and tcp opt ack"),
    ("tcp and www", "tcp and tcp port www"),
    ("echo-reply", "icmp type echo-reply"),
    ("icmp echo", "icmp type 8"),
    ("icmp type != echo", "icmp type != 8"),
    ("udp port dns", "udp port 53"),
    ("frag", "ip frag"),
    ("unfrag", "ip unfrag"),
    ("ip[6,7] & 0x1fff != 0", "ip[6:2] & 0x1fff != 0"),
    ("ip[9] == 6", "ip[9:1] == 6"),
    ("tcp && src port 80", "tcp and src port 80"),
    ("tcp src port 80", "src tcp port 80"),
    ("tcp || udp", "tcp or udp"),
    ("! tcp", "not tcp"),
    ("not not tcp", "tcp"),
    ("-", "true"),
    ("any", "true"),
    ("(((tcp)))", "tcp"),
    ("tcp ? syn : udp", "(tcp and syn) or (not tcp and udp)"),
    ("src host = 1.2.3.4", "src host 1.2.3.4"),
    ("ip ttl 0x40", "ip ttl 64"),
])
def test_abbreviations_mean_their_long_forms(short, long):
    assert same(short, long), (tree_text(parse_pattern(short)), tree_text(parse_pattern(long)))


def test_ip_proto_is_one_byte_test():
    assert parse_pattern("ip proto 47") == Compare(IP_PROTO, "==", 47, 0xFF)


def test_a_type_needs_no_repeat_after_parentheses_and_not():
    # The previous primitive in the text gives the type, whatever the nesting (Click).
    assert same("src host 1.2.3.4 or (not 5.6.7.8)", "src host 1.2.3.4 or not src host 5.6.7.8")


def test_qualifiers_reset_the_abbreviation():
    assert same("src host 1.2.3.4 or dst 5.6.7.8", "src host 1.2.3.4 or dst host 5.6.7.8")


def test_port_tests_require_their_protocol_and_a_first_fragment():
    tree = parse_pattern("tcp port 80")
    text = tree_text(tree)
    assert "ip proto == 6" in text and "ip[6:2] & 0x1fff == 0" in text


def test_negative_port_relations_keep_the_protocol_test_outside_the_negation():
    tree = parse_pattern("src tcp port != 5")
    assert isinstance(tree, And) and not any(isinstance(c, Not) for c in tree.children)
    tree = parse_pattern("not src tcp port 5")
    assert isinstance(tree, Not)


def test_negated_src_or_dst_is_guarded_by_the_fields_being_there():
    tree = parse_pattern("host != 1.2.3.4")
    assert tree == And((Present("ip", 20), Not(Or((Compare(IP_SRC, "==", 0x01020304, 0xFFFFFFFF),
                                                    Compare(IP_DST, "==", 0x01020304,
                                                            0xFFFFFFFF))))))


def test_relations_keep_their_operator():
    assert parse_pattern("ip ttl <= 5") == Compare(IP_TTL, "<=", 5, 0xFF)
    assert parse_pattern("ip ttl & 0xf0 >= 0x40") == Compare(IP_TTL, ">=", 0x40, 0xF0)


def test_constants_fold():
    assert parse_pattern("true and tcp") == parse_pattern("tcp")
    assert parse_pattern("false or tcp") == parse_pattern("tcp")
    assert parse_pattern("tcp and false") == Const(False)
    assert parse_pattern("not true") == Const(False)


def test_tokenizer_splits_operators_and_keeps_words_whole():
    words = [t.text for t in tokenize("ip[6:2]&0x1fff!=0&&(src port>=1024||echo-reply)")]
    assert words == ["ip", "[", "6:2", "]", "&", "0x1fff", "!=", "0", "&&", "(", "src", "port",
                     ">=", "1024", "||", "echo-reply", ")"]


# -- errors ---------------------------------------------------------------------

@pytest.mark.parametrize("pattern, message, word", [
    ("src hots 1.2.3.4", "unknown word 'hots' — did you mean 'host'?", "hots"),
    ("tcp port wwww", "unknown word 'wwww' — did you mean 'www'?", "wwww"),
    ("echo", "'echo' is ambiguous; try 'port echo' or 'icmp type echo'", "echo"),
    ("udp syn", "'udp syn' is meaningless; try 'tcp opt syn'", "syn"),
    ("src host", "'src host' needs an IPv4 address such as 10.0.0.1 after it", None),
    ("host 10.0.0.0/8", "for a network write 'net 10.0.0.0/8'", "10.0.0.0/8"),
    ("port >", "'>' needs a value after it", None),
    ("(tcp", "this '(' is never closed", "("),
    ("tcp)", "unexpected ')'", ")"),
    ("tcp and", "missing expression after 'and'", "and"),
    ("tcp or or udp", "expected a primitive", "or"),
    ("80", "a bare number needs a header field or 'port' before it", "80"),
    ("ip ttl 300", "value 300 is out of range", "300"),
    ("tcp[0:5] == 1", "LEN in '[POS:LEN]' must be 1 to 4", "[0:5]"),
    ("src ttl 5", "'src' applies to host, net and port", "src"),
    ("ip[6:2] & 0x1fff == 0x2000", "bits outside the mask", "0x2000"),
    ("icmp port 80", "ports belong to tcp, udp, dccp and sctp, not 'icmp'", "icmp"),
    ("tcp opt != syn", "takes no operator or mask", "!="),
    ("src host 1.2.3.4 or 80", "a bare number", "80"),
    ("", "empty pattern", None),
    ("ether host 00:01:02:03:04:05", "'ether' primitives are not supported", "ether"),
    ("host port 80", "one primitive has one type", "port"),
    ("tcp udp", "two protocols in one primitive", "udp"),
    ("ip frag 3", "'frag' takes no value", "3"),
    ("src host > 1.2.3.4", "compares addresses with == or != only", ">"),
    ("tcp ? syn udp", "expected ':'", None),
    ("ip ttl & 0 == 0", "zero mask", "0"),
    ("ip ttl & 0x100 == 0", "mask 0x100 is out of range", "0x100"),
    ("ip[6:2 == 0", "never closed", "["),
    ("ip[x] == 0", "expected '[POS]' or '[POS:LEN]'", "[x]"),
    ("10.0.0.300", "bad address or number '10.0.0.300'", "10.0.0.300"),
    ("ip ttl", "'ip ttl' needs a value after it", None),
    ("src", "'src' is incomplete", None),
    ("tcp win 10 or 20 and udp win 5", "belongs to tcp, not 'udp'", "udp"),
    ("port -1", "bad address or number '-1'", "-1"),
    ("net 10.0.0.0 mask", "'mask' needs a netmask", "mask"),
    ("net 10.0.0.0 mask 255.0.0.300", "'mask' needs a netmask", "255.0.0.300"),
    ("tcp ? syn:udp", "needs spaces around it", "syn:udp"),
])
def test_bad_patterns_name_and_point_at_the_bad_word(pattern, message, word):
    with pytest.raises(PatternError) as info:
        parse_pattern(pattern)
    e = info.value
    assert message in e.message
    assert str(e).startswith(f"pattern '{pattern}': ")
    if word is not None:
        assert pattern[e.start:e.end] == word
    lines = str(e).split("\n")
    assert lines[1] == "    " + pattern and lines[2].strip().startswith("^")
