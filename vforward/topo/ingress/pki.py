"""The certificate authority a lab keeps for its OpenVPN ingress.

Everything is made with the `cryptography` library (X.509 on OpenSSL); the
keys are ECDSA P-256, which OpenVPN 2.4+ takes with `dh none` (ECDHE).

The folder (the lab's state folder, ingress/pki) holds::

    ca.key ca.crt           the lab's CA (made at the first use)
    crl.pem                 the revocation list the servers' crl-verify re-reads
    servers/NODE.{key,crt}  one server certificate per ingress node (serverAuth)
    clients/NAME.{key,crt}  one certificate per client (clientAuth)
    clients.json            name -> {serial, created, revoked}

A client is revoked by adding its serial to a newly signed CRL; OpenVPN
reads crl.pem again at every new connection, so the client's next
connection is refused while other clients stay connected (`ingress revoke`
also cuts its current connections: server.disconnect).
"""
from __future__ import annotations

import datetime
import json
import os
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vforward.topo.model import TopologyError

CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VALID_DAYS = 3650          # lab certificates and the CRL: a lab does not outlive them
CRL_DAYS = 3650


class PKIError(TopologyError):
    """A PKI request that cannot be met (unknown or duplicate client, bad name)."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: str, data: bytes, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class LabPKI:
    """The CA, server and client certificates and the CRL in one folder."""

    def __init__(self, directory: str, lab_name: str):
        self.directory = directory
        self.lab_name = lab_name

    # -- paths ---------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return os.path.join(self.directory, *parts)

    @property
    def ca_cert_path(self) -> str:
        return self.path("ca.crt")

    @property
    def crl_path(self) -> str:
        return self.path("crl.pem")

    def server_paths(self, node: str) -> tuple[str, str]:
        return self.path("servers", f"{node}.crt"), self.path("servers", f"{node}.key")

    def client_paths(self, name: str) -> tuple[str, str]:
        return self.path("clients", f"{name}.crt"), self.path("clients", f"{name}.key")

    # -- the CA and the CRL --------------------------------------------------------------
    def ensure_ca(self) -> None:
        """Make the CA and an empty CRL unless they exist."""
        if os.path.exists(self.ca_cert_path):
            return
        for sub in ("", "servers", "clients"):
            os.makedirs(self.path(sub), mode=0o700, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"vforward lab {self.lab_name} CA")
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(_now() - datetime.timedelta(minutes=5))
                .not_valid_after(_now() + datetime.timedelta(days=VALID_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        _write(self.path("ca.key"), _key_pem(key), private=True)
        _write(self.ca_cert_path, _cert_pem(cert))
        self._save_index({})
        self._write_crl()

    def _ca(self):
        with open(self.path("ca.key"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        with open(self.ca_cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        return key, cert

    def _write_crl(self) -> None:
        key, ca = self._ca()
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(ca.subject)
                   .last_update(_now() - datetime.timedelta(minutes=5))
                   .next_update(_now() + datetime.timedelta(days=CRL_DAYS)))
        for name, entry in sorted(self._index().items()):
            if entry.get("revoked"):
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(entry["serial"]))
                    .revocation_date(datetime.datetime.fromtimestamp(entry["revoked"],
                                                                     datetime.timezone.utc))
                    .build())
        crl = builder.sign(key, hashes.SHA256())
        tmp = self.crl_path + ".tmp"
        _write(tmp, crl.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, self.crl_path)      # a server reading it sees the old or the new list

    # -- leaf certificates ---------------------------------------------------------------
    def _issue(self, common_name: str, usage, cert_path: str, key_path: str) -> int:
        ca_key, ca = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        serial = x509.random_serial_number()
        cert = (x509.CertificateBuilder()
                .subject_name(_name(common_name)).issuer_name(ca.subject)
                .public_key(key.public_key())
                .serial_number(serial)
                .not_valid_before(_now() - datetime.timedelta(minutes=5))
                .not_valid_after(_now() + datetime.timedelta(days=VALID_DAYS))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=True, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write(key_path, _key_pem(key), private=True)
        _write(cert_path, _cert_pem(cert))
        return serial

    def ensure_server(self, node: str) -> tuple[str, str]:
        """The (cert, key) paths of node's server certificate, made if missing."""
        self.ensure_ca()
        cert, key = self.server_paths(node)
        if not os.path.exists(cert):
            self._issue(f"{self.lab_name}-{node}-server", ExtendedKeyUsageOID.SERVER_AUTH,
                        cert, key)
        return cert, key

    def new_client(self, name: str) -> tuple[str, str]:
        """Issue a certificate for client `name`; returns its (cert, key) paths."""
        if not CLIENT_NAME.match(name):
            raise PKIError(f"client name '{name}' must be letters, digits, '_', '.' or '-' "
                           "(at most 64, starting with a letter or digit)")
        self.ensure_ca()
        index = self._index()
        if name in index:
            state = "was revoked" if index[name].get("revoked") else "exists"
            raise PKIError(f"client {name} {state}; choose another name"
                           + ("" if index[name].get("revoked") else
                              f" (its profile is made once; revoke it with 'ingress LAB revoke {name}')"))
        cert, key = self.client_paths(name)
        serial = self._issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, cert, key)
        index[name] = {"serial": str(serial), "created": _now().timestamp(), "revoked": None}
        self._save_index(index)
        return cert, key

    def revoke(self, name: str) -> None:
        """Put client `name` on the CRL (written atomically)."""
        index = self._index()
        if name not in index:
            known = ", ".join(sorted(index)) or "none yet"
            raise PKIError(f"no client '{name}' in lab {self.lab_name} (clients: {known})")
        if index[name].get("revoked"):
            raise PKIError(f"client {name} is already revoked")
        index[name]["revoked"] = _now().timestamp()
        self._save_index(index)
        self._write_crl()

    def clients(self) -> dict:
        """name -> {serial, created, revoked} (timestamps; revoked None while valid)."""
        return self._index() if os.path.exists(self.path("clients.json")) else {}

    def _index(self) -> dict:
        with open(self.path("clients.json")) as f:
            return json.load(f)

    def _save_index(self, index: dict) -> None:
        tmp = self.path("clients.json.tmp")
        with open(tmp, "w") as f:
            json.dump(index, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path("clients.json"))
