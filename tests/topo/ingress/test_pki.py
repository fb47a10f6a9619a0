"""The lab's PKI: certificates chain to the lab's CA (checked by openssl itself),
a revoked client is on the CRL while the others are not, and mistakes are
refused with the fix."""
import shutil
import subprocess

import pytest

from vforward.topo.ingress.pki import LabPKI, PKIError

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")


def verify(pki, cert, crl=True):
    """openssl's verdict on `cert` against the lab's CA (and CRL)."""
    args = ["openssl", "verify", "-CAfile", pki.ca_cert_path]
    if crl:
        args += ["-crl_check", "-CRLfile", pki.crl_path]
    p = subprocess.run(args + [cert], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


@needs_openssl
def test_server_and_client_certificates_verify_against_the_lab_ca(tmp_path):
    pki = LabPKI(str(tmp_path / "pki"), "lab1")
    server, _ = pki.ensure_server("r1")
    client, key = pki.new_client("alice")
    for cert in (server, client):
        code, out = verify(pki, cert)
        assert code == 0, out
    purpose = subprocess.run(["openssl", "verify", "-CAfile", pki.ca_cert_path, "-purpose",
                              "sslclient", server], capture_output=True, text=True)
    assert purpose.returncode != 0      # a server's certificate cannot log in as a client
    assert (tmp_path / "pki" / "clients" / "alice.key").stat().st_mode & 0o077 == 0


@needs_openssl
def test_a_revoked_client_fails_verification_and_the_others_still_pass(tmp_path):
    pki = LabPKI(str(tmp_path / "pki"), "lab1")
    alice, _ = pki.new_client("alice")
    bob, _ = pki.new_client("bob")
    pki.revoke("alice")
    code, out = verify(pki, alice)
    assert code != 0 and "revoked" in out
    assert verify(pki, bob)[0] == 0
    assert pki.clients()["alice"]["revoked"] and not pki.clients()["bob"]["revoked"]


def test_duplicate_unknown_and_badly_named_clients_are_refused(tmp_path):
    pki = LabPKI(str(tmp_path / "pki"), "lab1")
    pki.new_client("alice")
    with pytest.raises(PKIError, match="exists"):
        pki.new_client("alice")
    with pytest.raises(PKIError, match="no client 'carol'.*alice"):
        pki.revoke("carol")
    with pytest.raises(PKIError, match="must be letters"):
        pki.new_client("../etc/passwd")
    pki.revoke("alice")
    with pytest.raises(PKIError, match="already revoked"):
        pki.revoke("alice")
