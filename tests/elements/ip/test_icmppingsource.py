"""ICMPPingSource: echo requests out, replies matched."""
from vforward.clickcli import main


def test_requests_are_answered_and_counted(capfd):
    assert main(["--simtime", "-e",
                 "p :: ICMPPingSource(10.0.0.1, 10.0.0.2, INTERVAL 0.1, LIMIT 5, VERBOSE false) "
                 "-> CheckIPHeader -> ICMPPingResponder -> p; DriverManager(wait 1s, stop)",
                 "-h", "p.summary"]) == 0
    assert capfd.readouterr().out.startswith("5 sent, 5 received, 0% loss; rtt min/avg/max")
