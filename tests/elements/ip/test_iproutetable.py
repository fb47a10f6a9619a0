"""IPRouteTable: Click's route syntax and table format, and the add, set, remove,
lookup and ctrl handlers, ctrl applied atomically (a bad line changes nothing)."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.element import HandlerError
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

from vforward.elements.ip.iproutetable import IPRoute, RouteError, RouteTable, parse_route

A = lambda s: int.from_bytes(bytes(int(x) for x in s.split(".")), "big")   # noqa: E731


# -- route text --------------------------------------------------------------------
@pytest.mark.parametrize("text, route", [
    ("10.0.0.0/8 1", IPRoute(A("10.0.0.0"), 8, 0, 1)),
    ("10.0.0.0/255.0.0.0 1", IPRoute(A("10.0.0.0"), 8, 0, 1)),
    ("18.26.4/24 1", IPRoute(A("18.26.4.0"), 24, 0, 1)),
    ("0/0 18.26.4.1 1", IPRoute(0, 0, A("18.26.4.1"), 1)),
    ("18.26.4.24 0", IPRoute(A("18.26.4.24"), 32, 0, 0)),
    ("10.1.2.3/8 - 2", IPRoute(A("10.0.0.0"), 8, 0, 2)),
    ("  10.0.0.0/8\t 1.2.3.4   3 ", IPRoute(A("10.0.0.0"), 8, A("1.2.3.4"), 3)),
])
def test_parses_clicks_route_forms(text, route):
    assert parse_route(text) == route


@pytest.mark.parametrize("text, message", [
    ("10.0.0.0/33 1", "route '10.0.0.0/33 1': prefix length 33 is not 0..32"),
    ("10.0.0.0/255.0.255.0 1", "netmask 255.0.255.0 is not a prefix mask"),
    ("10.0.0.0/x 1", "'x' is neither a prefix length 0..32 nor a netmask"),
    ("10.0.0.256/8 1", "route '10.0.0.256/8 1': '10.0.0.256' is not an IPv4 address"),
    ("10.0.0/8 1 2 3", "4 words, expected 'ADDR/MASK [GATEWAY] OUTPUT'"),
    ("10.0.0.0/8", "no OUTPUT port; expected 'ADDR/MASK [GATEWAY] OUTPUT'"),
    ("10.0.0.0/8 1.2.3.4", "no OUTPUT port"),
    ("10.0.0.0/8 gw 1", "gateway 'gw' is not an IPv4 address; write '-' for no gateway"),
    ("10.0.0.0/8 1.2.3.4 x", "output 'x' is not an output port number"),
    ("10.0.0.0/8 -1", "output '-1' is not an output port number"),
    ("", "empty route"),
])
def test_bad_routes_name_the_route_and_the_fix(text, message):
    with pytest.raises(RouteError, match=message.replace(".", r"\.").replace("[", r"\[")
                       .replace("(", r"\(")):
        parse_route(text)


def test_remove_requests_may_omit_the_output():
    assert parse_route("10.0.0.0/8", remove=True) == IPRoute(A("10.0.0.0"), 8, 0, -1)
    assert parse_route("10.0.0.0/8 1.2.3.4", remove=True).port == -1


def test_table_lines_use_clicks_tab_layout():
    assert parse_route("10.0.0.0/8 0").table_line() == "10.0.0.0/8\t\t-\t\t0"
    assert parse_route("0/0 18.26.4.1 1").table_line() == "0.0.0.0/0\t\t18.26.4.1\t1"
    assert parse_route("192.168.100.100 1.2.3.4 2").table_line() == \
        "192.168.100.100/32\t1.2.3.4\t\t2"


def test_next_hop_indices_are_shared_per_gateway_and_port_and_reused():
    t = RouteTable()
    t.set(parse_route("10.0.0.0/8 1.1.1.1 1"))
    t.set(parse_route("11.0.0.0/8 1.1.1.1 1"))
    t.set(parse_route("12.0.0.0/8 2"))
    assert t.pairs_in_use() == 2
    t.remove((A("10.0.0.0"), 8))
    assert t.pairs_in_use() == 2
    t.set(parse_route("11.0.0.0/8 3"))                # replaces: 1.1.1.1/1 is unused now
    assert t.pairs_in_use() == 2
    assert t.lookup(A("11.9.9.9")) == (3, 0) and t.lookup(A("9.9.9.9")) == (-1, 0)
    t.set(parse_route("13.0.0.0/8 4.4.4.4 0"))
    assert t.pairs_in_use() == 3 and t.lookup(A("13.1.1.1")) == (0, A("4.4.4.4"))


# -- handlers ------------------------------------------------------------------------
ROUTER = "Idle -> rt :: RadixIPLookup({}) -> Discard; rt[1] -> Discard; rt[2] -> Discard"


@pytest.fixture
def rt(make_router):
    r = make_router(ROUTER.format("10.0.0.0/8 0, 10.1.0.0/16 10.0.0.254 1, 0/0 18.26.4.1 2"))
    r.initialize()
    return r.element("rt")


def test_table_lists_routes_sorted_by_prefix(rt):
    assert rt.read("table") == ("0.0.0.0/0\t\t18.26.4.1\t2\n10.0.0.0/8\t\t-\t\t0\n"
                                "10.1.0.0/16\t\t10.0.0.254\t1\n")


def test_lookup_reports_output_and_gateway_as_click(rt):
    assert rt.read("lookup", "10.2.3.4") == "0"
    assert rt.read("lookup", "10.1.3.4") == "1 10.0.0.254"
    assert rt.read("lookup", "8.8.8.8") == "2 18.26.4.1"
    rt.write("remove", "0.0.0.0/0")
    assert rt.read("lookup", "8.8.8.8") == "-1"
    with pytest.raises(HandlerError, match="expected an IPv4 address such as 10.0.0.1, not 'x'"):
        rt.read("lookup", "x")


def test_add_refuses_an_existing_prefix_and_set_replaces_it(rt):
    with pytest.raises(HandlerError, match="route '10.0.0.0/8 - 1' conflicts with existing route "
                                           "'10.0.0.0/8 - 0'; use set to replace it"):
        rt.write("add", "10.0.0.0/8 1")
    rt.write("set", "10.0.0.0/8 1")
    assert rt.read("lookup", "10.9.9.9") == "1"
    rt.write("add", "192.168.0.0/16 192.168.0.1 0")
    assert rt.read("lookup", "192.168.3.3") == "0 192.168.0.1"


def test_remove_by_prefix_or_by_whole_route(rt):
    with pytest.raises(HandlerError, match="route '10.1.0.0/16 - 1' not found; the table has "
                                           "'10.1.0.0/16 10.0.0.254 1'"):
        rt.write("remove", "10.1.0.0/16 - 1")
    rt.write("remove", "10.1.0.0/16 10.0.0.254 1")
    rt.write("remove", "10.0.0.0/8")
    with pytest.raises(HandlerError, match="route '10.0.0.0/8' not found; the table has no route"):
        rt.write("remove", "10.0.0.0/8")
    assert rt.read("table") == "0.0.0.0/0\t\t18.26.4.1\t2\n"


def test_added_routes_must_name_a_connected_output(rt):
    with pytest.raises(HandlerError, match="route '1.0.0.0/8 - 3': output 3 is not connected; "
                                           "'rt' has outputs 0..2"):
        rt.write("add", "1.0.0.0/8 3")


def test_bad_route_text_in_a_handler_names_the_route(rt):
    with pytest.raises(HandlerError,
                       match=r"route '10.0.0.0/33 1': prefix length 33 is not 0\.\.32"):
        rt.write("add", "10.0.0.0/33 1")


def test_ctrl_applies_every_line(rt):
    rt.write("ctrl", "add 1.0.0.0/8 1\n\n  set 10.0.0.0/8 2 // comment\nremove 0/0\n"
                     "add 0/0 9.9.9.9 0")
    assert rt.read("table") == ("0.0.0.0/0\t\t9.9.9.9\t\t0\n1.0.0.0/8\t\t-\t\t1\n"
                                "10.0.0.0/8\t\t-\t\t2\n10.1.0.0/16\t\t10.0.0.254\t1\n")


@pytest.mark.parametrize("script, message", [
    ("add 1.0.0.0/8 1\nadd 2.0.0.0/33 1", r"ctrl line 2 \('add 2.0.0.0/33 1'\): route "
                                          r"'2.0.0.0/33 1': prefix length 33 is not 0..32; "
                                          "nothing was changed"),
    ("add 1.0.0.0/8 1\nfrob 2.0.0.0/8 1", r"ctrl line 2 \('frob 2.0.0.0/8 1'\): unknown command "
                                          "'frob'; use add, set or remove"),
    ("add 1.0.0.0/8 1\nadd 1.0.0.0/8 2", "ctrl line 2.*conflicts with existing route "
                                         "'1.0.0.0/8 - 1'"),
    ("remove 0/0\nremove 0/0", "ctrl line 2.*route '0/0' not found"),
    ("set 1.0.0.0/8 7", "ctrl line 1.*output 7 is not connected"),
])
def test_a_bad_ctrl_line_is_named_and_changes_nothing(rt, script, message):
    before = rt.read("table")
    with pytest.raises(HandlerError, match=message):
        rt.write("ctrl", script)
    assert rt.read("table") == before


# -- ctrl atomicity against a dict model, on random scripts ------------------------------
prefixes = st.sampled_from(["0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32",
                            "192.168.0.0/16", "10.0.0.0/9"])
lines = st.one_of(
    st.tuples(st.sampled_from(["add", "set"]), prefixes,
              st.sampled_from(["", "1.2.3.4 ", "- ", "5.6.7.8 "]), st.integers(0, 3))
    .map(lambda t: f"{t[0]} {t[1]} {t[2]}{t[3]}"),
    st.tuples(prefixes, st.sampled_from(["", " 1.2.3.4 1", " - 0"]))
    .map(lambda t: f"remove {t[0]}{t[1]}"),
    st.sampled_from(["add 10.0.0.0/40 1", "bogus 1.0.0.0/8 1", "add 1.0.0.0/8 x", ""]))


def model_apply(table: dict, script: str, n_outputs: int):
    """The model of ctrl: the new table, or None when some line fails."""
    t = dict(table)
    for line in script.splitlines():
        if not line.strip():
            continue
        cmd, _, text = line.partition(" ")
        if cmd not in ("add", "set", "remove"):
            return None
        try:
            r = parse_route(text, remove=cmd == "remove")
        except RouteError:
            return None
        if cmd == "remove":
            old = t.get(r.key)
            if old is None or not old.matches(r):
                return None
            del t[r.key]
        else:
            if r.port >= n_outputs or (cmd == "add" and r.key in t):
                return None
            t[r.key] = r
    return t


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(lines, min_size=1, max_size=6).map("\n".join), min_size=1, max_size=5))
def test_ctrl_scripts_apply_all_or_nothing_as_the_model_says(scripts):
    router = Router(build_graph(ROUTER.format("10.0.0.0/8 0")), PacketPool(16))
    try:
        rt = router.element("rt")
        model = {r.key: r for r in [parse_route("10.0.0.0/8 0")]}
        for script in scripts:
            expected = model_apply(model, script, 3)
            if expected is None:
                before = rt.read("table")
                with pytest.raises(HandlerError, match="nothing was changed"):
                    rt.write("ctrl", script)
                assert rt.read("table") == before
            else:
                rt.write("ctrl", script)
                model = expected
            assert rt.read("table") == "".join(model[k].table_line() + "\n" for k in sorted(model))
            for probe in ("10.1.2.3", "10.1.2.4", "10.1.9.9", "10.200.0.1", "192.168.1.1",
                          "8.8.8.8"):
                best = max((r for r in model.values()
                            if (A(probe) >> (32 - r.plen) if r.plen else 0) ==
                            (r.prefix >> (32 - r.plen) if r.plen else 0)),
                           key=lambda r: r.plen, default=None)
                want = "-1" if best is None else (
                    f"{best.port} {str(best).split()[1]}" if best.gw else str(best.port))
                assert rt.read("lookup", probe) == want
    finally:
        router.close()
