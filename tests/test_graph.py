"""Building graphs: ports, push/pull resolution, wiring, and every graph error's message."""
import pytest

from vforward.graph import GraphError, build_graph


def error_of(text):
    with pytest.raises(GraphError) as e:
        build_graph(text, "g.click")
    return str(e.value)


def test_agnostic_elements_take_the_kind_of_their_neighbours():
    g = build_graph("s :: InfiniteSource -> a :: Counter -> q :: Queue -> b :: Counter "
                    "-> u :: Unqueue -> Discard;", "g.click")
    assert g["a"].input_processing == ["h"] and g["a"].output_processing == ["h"]
    assert g["b"].input_processing == ["l"] and g["b"].output_processing == ["l"]


def test_unknown_class_suggests_the_nearest():
    msg = error_of("InfiniteSource -> Countr -> Discard;")
    assert "g.click:1:" in msg
    assert "unknown element class 'Countr'" in msg and "did you mean 'Counter'" in msg


def test_push_output_into_pull_input_says_to_add_a_queue():
    msg = error_of("TimedSource -> u :: Unqueue -> Discard;")
    assert "push output 0 of 'TimedSource@1' is connected to pull input 0 of 'u'" in msg
    assert "Queue" in msg


def test_port_out_of_range_names_what_the_class_takes():
    msg = error_of("s :: InfiniteSource -> c :: Counter; c[1] -> Discard; c -> Discard;")
    assert "'c' has no output 1" in msg and "1 output" in msg
    assert msg.startswith("g.click:1:")


def test_unconnected_input_and_output():
    assert "input 0 of 'c' (Counter) is not connected" in error_of("c :: Counter -> Discard;")
    assert "output 0 of 'c' (Counter) is not connected" in error_of("InfiniteSource -> c :: Counter;")


def test_push_output_used_twice_suggests_tee():
    msg = error_of("s :: InfiniteSource; s -> Discard; s -> Discard;")
    assert "connected more than once" in msg and "Tee" in msg


def test_pull_input_used_twice():
    msg = error_of("a :: InfiniteSource -> q1 :: Queue; b :: InfiniteSource -> q2 :: Queue; "
                   "q1 -> u :: Unqueue -> Discard; q2 -> u;")
    assert "pull input 0 of 'u' is connected more than once" in msg


def test_bad_argument_names_the_place_and_the_argument():
    msg = error_of("InfiniteSource -> Queue(lots) -> Unqueue -> Discard;")
    assert msg.startswith("g.click:1:")
    assert "argument CAPACITY: expected an integer" in msg


def test_optional_output_left_unconnected_drops(make_router):
    r = make_router("InfiniteSource(LIMIT 10, STOP true) -> c :: Counter -> Discard;")
    r.run_until_idle()
    assert r.element("c").count == 10 and r.pool.n_used == 0


def test_flat_config_lists_elements_and_connections():
    g = build_graph("elementclass Pair { input -> Counter -> output }\n"
                    "InfiniteSource -> p :: Pair -> Discard;", "g.click")
    flat = g.flat_config()
    assert "p/Counter@" in flat and ":: InfiniteSource" in flat and "->" in flat


def test_dot_output_names_every_element():
    g = build_graph("s :: InfiniteSource -> q :: Queue -> Unqueue -> Discard;", "g.click")
    dot = g.to_dot()
    assert dot.startswith("digraph") and '"s"' in dot and '"q"' in dot
    assert "style=dashed" in dot   # pull connection drawn dashed


# -- a static check looks devices up (vforward check) -------------------------------

def test_a_static_check_refuses_a_device_an_element_opens_that_is_not_here():
    from vforward.host_device_addresses import static_check
    text = "Idle -> Queue\n  -> ToDevice(lo9);"
    build_graph(text, "g.click")                  # building alone looks nothing up
    with static_check(offline=False), pytest.raises(GraphError) as e:
        build_graph(text, "g.click")
    assert str(e.value).startswith("g.click:2:6: ToDevice@3 :: ToDevice: no network device "
                                   "'lo9' in this network namespace (did you mean 'lo'?)")
    assert "vforward check --no-devices" in str(e.value)
    with static_check(offline=True) as missing:
        build_graph(text, "g.click")
    assert list(missing) == ["lo9"] and str(missing["lo9"][0]) == "g.click:2:6"


def test_a_static_check_takes_a_device_the_configuration_creates_or_another_namespace_has():
    from vforward.host_device_addresses import static_check
    with static_check(offline=False) as missing:
        build_graph("KernelTap(192.0.2.1/24, DEVNAME vfcheck9) -> Queue -> ToDevice(vfcheck9);"
                    "FromDevice(eth7, NETNS vfcheckns) -> Discard;", "g.click")
    assert missing == {}


def test_an_element_warning_names_its_place_as_errors_do(capsys):
    build_graph("Idle -> Discard;\n"
                "Idle -> rt :: StaticIPLookup(10.0.0.0/8 0, 10.0.0.0/8 1) -> Discard;\n",
                "router.click")
    err = capsys.readouterr().err
    assert err.startswith("router.click:2:9: warning: rt :: StaticIPLookup: argument 2: "
                          "route '10.0.0.0/8 - 1' repeats the prefix 10.0.0.0/8"), err


def test_an_argument_error_quoting_an_undefined_variable_says_the_variable_is_the_mistake():
    msg = error_of("define($RATE 10)\nIdle -> Paint($RATES) -> Discard;")
    assert msg.startswith("g.click:2:9: Paint@2 :: Paint: argument COLOR: expected an integer, "
                          "got '$RATES'; variable '$RATES' is not defined; did you mean '$RATE'?")
