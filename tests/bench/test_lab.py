"""The table `vforward bench lab` prints: a column per mode, ratios to the kernel."""
from vforward.bench.lab import print_table


def _row(udp, tcp, rtt):
    return {"udp64_pps": udp, "tcp_mbps": tcp, "rtt_ms": rtt, "reroute_s": float("nan")}


def test_each_user_space_mode_gets_its_ratio_to_the_kernel():
    lines = []
    print_table({"medians": {"user": _row(1e4, 500, 1.0), "one-process": _row(1e4, 250, 2.0),
                             "kernel": _row(2e4, 2000, 0.1)}}, log=lines.append)
    header = lines[0].split()
    assert header == ["measure", "user", "one-process", "kernel", "user/kernel", "one-process/kernel"]
    tcp = next(l for l in lines if l.startswith("TCP")).split()
    assert tcp[-2:] == ["0.25x", "0.12x"]
    assert not any(l.startswith("reroute") for l in lines)     # no mode measured it


def test_two_modes_print_as_before():
    lines = []
    print_table({"medians": {"user": _row(1e4, 500, 1.0), "kernel": _row(2e4, 2000, 0.1)}},
                log=lines.append)
    assert lines[0].split() == ["measure", "user", "kernel", "user/kernel"]
    assert next(l for l in lines if l.startswith("RTT")).split()[-1] == "10.00x"
