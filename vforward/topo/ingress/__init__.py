"""Ingress: outside hosts join a lab over OpenVPN, as PL-VINI's end hosts did.

`ingress:` on a router node makes deploy start a real OpenVPN server
(server.py) attached to that node, with a PKI the lab keeps in its state
folder (pki.py); `vforward topo ingress LAB client NAME` writes a client's
inline profile (profile.py), and `list` / `revoke` manage clients (cli.py).
destroy stops the server with the lab's other daemons and removes the PKI
with the state folder.
"""
