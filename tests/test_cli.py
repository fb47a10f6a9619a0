"""The vforward command line, run as a user runs it (a real subprocess)."""
import os
import shutil
import subprocess
import sys

import dpkt
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def vforward(*args, stdin=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "vforward", *args], capture_output=True,
                          text=True, input=stdin, timeout=timeout, cwd=ROOT)


def test_check_prints_the_flattened_graph(tmp_path):
    cfg = tmp_path / "a.click"
    cfg.write_text("define($N 5)\nInfiniteSource(LIMIT $N) -> c :: Counter -> Discard;\n")
    p = vforward("check", str(cfg))
    assert p.returncode == 0, p.stderr
    assert "c :: Counter" in p.stdout and "InfiniteSource(LIMIT 5)" in p.stdout


def test_check_reports_a_typo_with_place_and_suggestion_and_no_traceback(tmp_path):
    cfg = tmp_path / "bad.click"
    cfg.write_text("src :: InfiniteSource\n  -> Countr\n  -> Discard;\n")
    p = vforward("check", str(cfg))
    assert p.returncode == 1
    assert f"{cfg}:2:" in p.stderr and "did you mean 'Counter'" in p.stderr
    assert "Traceback" not in p.stderr


def test_check_reports_a_syntax_error(tmp_path):
    p = vforward("check", "-e", "a :: Counter -> -> Discard")
    assert p.returncode == 1 and "<expr>:1:" in p.stderr and "Traceback" not in p.stderr


def test_missing_file_is_a_clear_error():
    p = vforward("check", "/nonexistent/x.click")
    assert p.returncode == 1 and "x.click" in p.stderr and "Traceback" not in p.stderr


def test_define_override_on_the_command_line():
    p = vforward("run", "-e", "define($N 3) InfiniteSource(LIMIT $N, STOP true) -> c :: Counter -> Discard",
                 "N=7", "--duration", "10")
    assert p.returncode == 0, p.stderr
    assert "c.count" in p.stderr and " 7" in p.stderr


def test_elements_lists_the_catalogue_and_shows_a_manual_page():
    p = vforward("elements")
    assert p.returncode == 0 and "Queue" in p.stdout and "Counter" in p.stdout
    p = vforward("elements", "Queue")
    assert p.returncode == 0 and p.stdout.startswith("Queue(") and "Handlers:" in p.stdout
    p = vforward("elements", "Queeu")
    assert p.returncode == 1 and "did you mean 'Queue'" in p.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")
def test_graph_writes_svg(tmp_path):
    out = tmp_path / "g.svg"
    p = vforward("graph", "-e", "InfiniteSource -> Queue -> Unqueue -> Discard", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_custom_elements_file_runs_the_worked_example(tmp_path):
    out = tmp_path / "m.pcap"
    ex = os.path.join(ROOT, "configs", "examples", "custom")
    p = vforward("run", "--elements", os.path.join(ex, "my_elements.py"),
                 os.path.join(ex, "mirror.click"),
                 f"IN={os.path.join(ROOT, 'vforward', 'data', 'sample.pcap')}", f"OUT={out}",
                 "--duration", "20")
    assert p.returncode == 0, p.stderr
    with open(os.path.join(ROOT, "vforward", "data", "sample.pcap"), "rb") as f:
        original = [bytes(b) for _, b in dpkt.pcap.Reader(f)]
    with open(out, "rb") as f:
        mirrored = [bytes(b) for _, b in dpkt.pcap.Reader(f)]
    expected = [b[6:12] + b[0:6] + b[12:] for b in original if len(b) >= 14]
    assert mirrored == expected


def test_offline_demo_runs_and_reports():
    p = vforward("demo", "--pcap", timeout=120)
    assert p.returncode == 0, p.stderr
    assert "frames read" in p.stdout and "every packet slot returned" in p.stdout


def test_check_offline_needs_no_device_and_run_fails_clearly_without_it(tmp_path):
    cfg = tmp_path / "dev.click"
    cfg.write_text("Idle -> aq :: ARPQuerier(192.0.2.1, novfdev9) -> Discard;\nIdle -> [1]aq;\n")
    p = vforward("check", "-q", str(cfg))
    assert p.returncode == 1 and f"{cfg}:1:9: aq :: ARPQuerier" in p.stderr
    assert "'vforward check --no-devices'" in p.stderr and "Traceback" not in p.stderr
    p = vforward("check", "-q", "--no-devices", str(cfg))
    assert p.returncode == 0, p.stderr
    assert (f"{cfg}:1:9: warning: 'novfdev9' is neither an AddressInfo name nor a network "
            "device here") in p.stderr
    p = vforward("run", str(cfg))
    assert p.returncode == 1 and f"{cfg}:1:9: aq :: ARPQuerier" in p.stderr
    assert "this machine has no network device 'novfdev9'" in p.stderr
    assert "Traceback" not in p.stderr


def test_check_refuses_a_device_typo_at_its_place_naming_close_devices_and_the_offline_check(
        tmp_path):
    cfg = tmp_path / "typo.click"
    cfg.write_text("// reads lo, misspelt\n  FromDevice(lo0) -> Discard;\n")
    p = vforward("check", "-q", str(cfg))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert (f"{cfg}:2:3: FromDevice@1 :: FromDevice: no network device 'lo0' in this network "
            "namespace (did you mean 'lo'?)") in p.stderr
    assert "'vforward check --no-devices'" in p.stderr
    p = vforward("check", "-q", "--no-devices", str(cfg))
    assert p.returncode == 0
    assert f"{cfg}:2:3: warning: FromDevice@1 :: FromDevice: no network device 'lo0'" in p.stderr


def test_check_places_warnings_as_it_places_errors(tmp_path, capsys):
    from vforward.cli import main
    cfg = tmp_path / "w.click"
    cfg.write_text("Idle -> Print($LABEL)\n  -> rw :: ICMPPingRewriter(192.0.2.1, -) -> Discard;\n")
    assert main(["check", "-q", str(cfg)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"{cfg}:2:6: warning: rw :: ICMPPingRewriter: "
                               "ICMPPingRewriter(192.0.2.1, -) is Click 1's form") for line in err)
    assert any(line.startswith(f"{cfg}:1:") and ": warning: " in line and "$LABEL" in line
               for line in err), err
