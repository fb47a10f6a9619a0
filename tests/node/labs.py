"""Topology texts for the node tests: labs placed on hosts."""


def three_host_ospf_lab(name: str) -> str:
    """Twelve OSPF routers, four on each of hosts a, b, c (a ring on each host),
    the rings joined by two links per pair of hosts; h1 on r1 (a), h2 on r11 (c)."""
    hosts = {"a": (1, 4), "b": (5, 8), "c": (9, 12)}
    nodes = []
    for host, (lo, hi) in hosts.items():
        nodes += [f"    r{i}: {{host: {host}}}" for i in range(lo, hi + 1)]
    nodes += ["    h1: {kind: host, host: a}", "    h2: {kind: host, host: c}"]
    ports: dict = {}

    def end(node: str) -> str:
        ports[node] = ports.get(node, 0) + 1
        return f"{node}:eth{ports[node]}"
    pairs = []
    for lo, hi in hosts.values():
        ring = list(range(lo, hi + 1))
        pairs += [(f"r{ring[k]}", f"r{ring[(k + 1) % 4]}") for k in range(4)]
    pairs += [("r2", "r5"), ("r4", "r7"), ("r6", "r9"), ("r8", "r11"), ("r10", "r1"),
              ("r12", "r3"), ("h1", "r1"), ("h2", "r11")]
    links = [f"    - endpoints: [{end(a)}, {end(b)}]" for a, b in pairs]
    return f"""name: {name}
routing: ospf
hosts:
  a: {{address: 192.0.2.1, mtu: 1500}}
  b: {{address: 192.0.2.2, mtu: 1500}}
  c: {{address: 192.0.2.3}}
topology:
  nodes:
{chr(10).join(nodes)}
  links:
{chr(10).join(links)}
validate:
  - reach: {{from: h1, to: h2}}
  - ping: {{from: r1, to: r7}}
  - ping: {{from: h2, to: r4}}
"""


def two_router_lab(name: str) -> str:
    """r1 (host a) -- r2 (host b), static routing, h1 behind r1, h2 behind r2."""
    return f"""name: {name}
hosts:
  a: {{address: 192.0.2.1, mtu: 1400}}
  b: {{address: 192.0.2.2}}
topology:
  nodes:
    r1: {{host: a}}
    r2: {{host: b}}
    h1: {{kind: host, host: a}}
    h2: {{kind: host, host: b}}
  links:
    - endpoints: [r1:eth1, r2:eth1]
    - endpoints: [h1:eth1, r1:eth2]
    - endpoints: [h2:eth1, r2:eth2]
"""
