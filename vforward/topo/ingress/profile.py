"""A client's OpenVPN profile: one .ovpn file with its key and certificates inline,
which `openvpn --config NAME.ovpn` (or any OpenVPN client) takes as it is."""
from __future__ import annotations

from vforward.topo.ingress.pki import LabPKI
from vforward.topo.model import Node


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def client_profile(lab_name: str, node: Node, pki: LabPKI, name: str, remote: str,
                   tls_key: str) -> str:
    """The profile of client `name` (issued already) for the ingress of `node`."""
    ing = node.ingress
    cert, key = pki.client_paths(name)
    return "\n".join([
        f"# vforward lab {lab_name}: client {name}, entering at node {node.name}",
        "client",
        "dev tun",
        f"proto {ing.proto}4",
        f"remote {remote} {ing.port}",
        "nobind",
        "# Only a certificate the lab's CA made for a server is accepted as the server.",
        "remote-cert-tls server",
        "persist-key",
        "persist-tun",
        "verb 3",
        f"<ca>\n{_read(pki.ca_cert_path)}\n</ca>",
        f"<cert>\n{_read(cert)}\n</cert>",
        f"<key>\n{_read(key)}\n</key>",
        f"<tls-crypt>\n{_read(tls_key)}\n</tls-crypt>",
        ""])
