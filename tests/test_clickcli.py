"""`vforward click`: Click's options, output formats and exit codes."""
import os
import subprocess
import sys
import time

import pytest

from vforward.clickcli import main, parse_options, UsageError


def test_options_bundle_and_take_values_as_clicks_parser_does():
    o = parse_options(["-qh", "c.count", "-e", "Idle", "--simtime", "X=1", "-x", "c.count"])
    assert o.quit and o.handlers == ["c.count"] and o.is_expr and o.file == "Idle"
    assert o.simtime == 1e9 and o.defines == {"X": "1"} and o.exit_handler == "c.count"
    assert parse_options(["--simtime=5", "-f", "a.click"]).simtime == 5.0
    with pytest.raises(UsageError, match="specified twice"):
        parse_options(["-e", "Idle", "b.click"])


def test_one_handler_prints_its_value_alone(capfd):
    assert main(["-e", "InfiniteSource(LIMIT 3, STOP true) -> c :: Counter -> Discard",
                 "-h", "c.count"]) == 0
    assert capfd.readouterr().out == "3\n"


def test_several_handlers_print_names_and_blank_lines(capfd):
    assert main(["-q", "-e", "c :: Counter -> d :: Discard; Idle -> c", "-h", "c.count",
                 "-h", "d.class"]) == 0
    assert capfd.readouterr().out == "c.count:\n0\n\nd.class:\nDiscard\n\n"


def test_quit_does_not_run_the_router(capfd):
    assert main(["-q", "-h", "c.count", "-e",
                 "InfiniteSource(LIMIT 3, STOP true) -> c :: Counter -> Discard"]) == 0
    assert capfd.readouterr().out == "0\n"


def test_a_class_name_reads_every_element_of_that_class(capfd):
    main(["-q", "-h", "Counter.count", "-e", "Idle -> a :: Counter -> b :: Counter -> Discard"])
    assert capfd.readouterr().out == "a.count:\n0\n\nb.count:\n0\n\n"


def test_missing_handler_is_an_error_with_status_1(capfd):
    assert main(["-q", "-h", "c.nope", "-e", "Idle -> c :: Counter -> Discard"]) == 1
    assert "no 'c.nope' handler" in capfd.readouterr().err


def test_exit_handler_value_is_the_status(capfd):
    assert main(["-q", "-x", "s.n", "-e", "s :: Script(TYPE PASSIVE, export n 3)"]) == 3
    assert main(["-q", "-x", "s.n", "-e", "s :: Script(TYPE PASSIVE, export n false)"]) == 1


def test_errors_read_config_line_message(capfd):
    assert main(["-e", "Idle ->\n Countr -> Discard"]) == 1
    err = capfd.readouterr().err
    assert err.startswith("config:2: unknown element class 'Countr'")


def test_output_writes_the_flattened_configuration(tmp_path):
    out = tmp_path / "flat.click"
    assert main(["-q", "-o", str(out), "-e",
                 "elementclass E { input -> Counter -> output } Idle -> e :: E -> Discard"]) == 0
    text = out.read_text()
    assert "e/Counter@1 :: Counter" in text and "-> [0] e/Counter@1" in text


def test_simtime_runs_a_long_wait_at_once(capfd):
    start = time.monotonic()
    assert main(["--simtime", "-e", "DriverManager(wait 3600s, print $(now), stop)"]) == 0
    assert time.monotonic() - start < 30
    assert capfd.readouterr().out.strip()      # the wall clock, printed by $(now)


def test_simtime_timers_advance_the_virtual_clock(capfd):
    main(["--simtime", "-e", "src :: RatedSource(LENGTH 60, RATE 10, LIMIT 50, STOP true) "
          "-> c :: Counter -> Discard", "-h", "c.count"])
    assert capfd.readouterr().out == "50\n"


def test_defines_on_the_command_line(capfd):
    main(["-q", "-h", "c.config", "N=5", "-e", "define($N 1) Idle -> c :: Paint($N) -> Discard"])
    assert capfd.readouterr().out == "5\n"


def test_click_entry_point_is_installed():
    click = os.path.join(os.path.dirname(sys.executable), "click")
    if not os.path.exists(click):
        pytest.skip("the package is not installed with its scripts")
    r = subprocess.run([click, "-q", "-h", "c.count", "-e", "Idle -> c :: Counter -> Discard"],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (0, "0\n")


def test_vforward_click_subcommand_passes_clicks_flags(capfd):
    from vforward.cli import main as vforward_main
    assert vforward_main(["click", "-qh", "c.count", "-e", "Idle -> c :: Counter -> Discard"]) == 0
    assert capfd.readouterr().out == "0\n"


CLICK_ELEMENTS = """AddressInfo Script DriverManager ICMPPingSource IPPrint FromIPSummaryDump
ToIPSummaryDump Truncate Pad Align Switch StaticSwitch PaintSwitch Bypass Hub RoundRobinSched
PrioSched StrideSched RoundRobinSwitch RED Meter Shaper BandwidthShaper BandwidthRatedSplitter
RatedSplitter SetIPDSCP MarkIPCE StoreIPAddress IPReassembler CheckUDPHeader CheckTCPHeader
SetUDPChecksum SetTCPChecksum DropBroadcasts FastUDPSource PollDevice FromHost ToHost
FullNoteQueue QuickNoteQueue NotifierQueue MixedQueue FrontDropQueue PullSwitch VLANEncap VLANDecap
SetVLANAnno EtherVLANEncap StripEtherVLANHeader ARPPrint GetIP6Address DecIP6HLIM IP6Print FixIPSrc
Resize ICMPIPEncap Clipboard IPAddrPairRewriter RoundRobinIPMapper ICMPRewriter""".split()


@pytest.mark.parametrize("name", CLICK_ELEMENTS)
def test_each_click_element_has_a_manual_page(name):
    from vforward.catalogue import load_builtin
    page = load_builtin()[name].manual()
    first = page.splitlines()[0]
    assert first.startswith((f"{name}(", f"{name} --")) and " -- " in first
    assert "Ports:" in page


def test_clicks_burst_defaults_hold_only_while_click_runs(capfd):
    from vforward.catalogue import load_builtin
    source = load_builtin()["InfiniteSource"]
    main(["-q", "-h", "s.burst", "-e", "s :: InfiniteSource -> Discard"])
    assert capfd.readouterr().out == "1\n"
    assert source.DEFAULT_BURST == 32


def test_a_source_pauses_while_the_queue_it_fills_is_full(capfd):
    # Click's full notifier: the source waits instead of overflowing the queue,
    # and under --simtime the clock can then move on to the driver's timers
    assert main(["--simtime", "-e", "i :: InfiniteSource -> q :: Queue(5) -> Idle; "
                 "DriverManager(wait 1s, print i.count, print q.drops, write q.capacity 2, "
                 "print q.length, write q.capacity 7, wait 1s, print i.count, stop)"]) == 0
    assert capfd.readouterr().out.split() == ["5", "0", "2", "10"]


def test_rated_unqueue_starts_with_a_full_bucket_under_simtime(capfd):
    main(["--simtime", "-e", "InfiniteSource -> Queue(10) -> u :: RatedUnqueue(RATE 2, BURST_SIZE 5) "
          "-> c :: Counter -> Discard; DriverManager(wait 10, stop)", "-h", "c.count"])
    # five at once from the full bucket, then one every half second
    assert capfd.readouterr().out == "24\n"


def test_every_bad_rewriter_spec_is_named_in_clicks_words(capfd):
    config = ("i :: Idle; rw :: IPAddrRewriter(pattern 1.0.0.1 1x - - 0 1,\n"
              " pattern 1.0.0.0 0-255 - - 0 1, pattern 1.0.0.0 456-19 - - 0 1);\n"
              "i -> [0]rw; i[1] -> [1]rw; i[2] -> [2]rw; rw[0] -> i; rw[1] -> i")
    assert main(["-e", config]) == 1
    assert capfd.readouterr().err.splitlines() == [
        "config:1: While configuring 'rw :: IPAddrRewriter':",
        "  input spec 0: bad source port",
        "  input spec 2: bad source port",
        "Router could not be initialized!"]
