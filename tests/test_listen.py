"""Listening sockets: where a service listens, and whether it says so."""
import socket

import pytest

from vforward.listen import exposure, is_loopback, listen_tcp


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.1", False), ("localhost", False),
])
def test_is_loopback_only_for_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_exposure_of_a_loopback_socket_says_loopback_only():
    sock = listen_tcp("127.0.0.1", 0, "control socket")
    try:
        port = sock.getsockname()[1]
        assert exposure(sock, "ctl") == (f"ctl: listening on TCP 127.0.0.1:{port} (loopback only; "
                                         "give HOST:PORT to listen elsewhere)")
    finally:
        sock.close()


def test_exposure_of_a_wildcard_socket_warns_other_machines_can_connect():
    sock = listen_tcp("0.0.0.0", 0, "control socket")
    try:
        assert "reachable from other machines" in exposure(sock, "ctl")
    finally:
        sock.close()


def test_a_busy_port_names_the_service_and_the_fix():
    first = listen_tcp("127.0.0.1", 0, "control socket")
    try:
        port = first.getsockname()[1]
        taken = socket.socket()
        taken.close()
        with pytest.raises(OSError, match="cannot open metrics on TCP 127.0.0.1:.*choose another port"):
            # SO_REUSEADDR does not let a second listener share a listening port
            listen_tcp("127.0.0.1", port, "metrics")
    finally:
        first.close()
