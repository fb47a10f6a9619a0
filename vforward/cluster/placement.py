"""Placing a lab's nodes on its hosts: balanced node counts, fewest links
crossing hosts.

A node without `host:` is placed automatically when `hosts:` declares more
than one host (the implicit host "local" counts as no placement).  This is
k-way graph partitioning with balance, the problem METIS solves (multilevel
coarsening, then Kernighan-Lin/Fiduccia-Mattheyses refinement); we call it
through pymetis, which ships METIS in its wheel, rather than approximate it.

The graph METIS sees:
  * one vertex per unpinned router, weighted by the nodes it carries: itself
    and the lab hosts (kind host) linked to it, which run in its bundle
    (vforward.node) and so always go where their router goes;
  * one vertex per host that has pinned nodes, all of them contracted into
    it (weighted by their number), since METIS has no fixed vertices;
  * one edge per pair of linked vertices, weighted by the links between them.
METIS splits it into as many parts as hosts; every part is then given the
host whose contracted vertex it holds (the heaviest one if it holds two), and
the remaining parts the remaining hosts in file order.  The seed is fixed,
so a lab places the same way every time it is read (every lab command reads
the topology again).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vforward.topo.model import Lab, TopologyError

UNPLACED = "local"      # the host of a node without `host:` (see topo.model)
METIS_SEED = 1          # fixed: the same lab always places the same way
# METIS's allowed imbalance, in thousandths above the average part weight (its
# k-way default is 30, 3%); 1 keeps node counts as even as the graph allows.
METIS_UFACTOR = 1


@dataclass
class Placement:
    """Where every node runs and what that costs in links between hosts."""
    hosts: dict                                  # node -> host
    automatic: list = field(default_factory=list)    # nodes placed here (not pinned)
    crossing: list = field(default_factory=list)     # links whose ends are on two hosts
    method: str = "pinned"                       # "metis" when anything was partitioned

    def counts(self) -> dict:
        out: dict = {}
        for h in self.hosts.values():
            out[h] = out.get(h, 0) + 1
        return out

    def as_json(self, lab: Lab) -> dict:
        return {"lab": lab.name, "method": self.method,
                "hosts": {h: {"address": lab.hosts[h],
                              "nodes": [n for n, nh in self.hosts.items() if nh == h]}
                          for h in placement_hosts(lab)},
                "nodes": {n: {"host": h, "automatic": n in self.automatic}
                          for n, h in self.hosts.items()},
                "crossing": [{"link": link.index, "a": link.a.ref, "b": link.b.ref,
                              "hosts": [self.hosts[link.a.node], self.hosts[link.b.node]]}
                             for link in self.crossing]}


def placement_hosts(lab: Lab) -> list[str]:
    """The hosts `hosts:` declares, in file order (without the implicit one)."""
    return [h for h in lab.hosts if h != UNPLACED]


def router_groups(lab: Lab) -> dict[str, list[str]]:
    """router -> [router, its lab hosts]; a lab host joins the first router it links to."""
    groups = {n.name: [n.name] for n in lab.routers()}
    for node in lab.nodes.values():
        if node.is_router:
            continue
        routers = [i.link.other(i).node for i in node.interfaces.values()]
        if routers:
            groups[routers[0]].append(node.name)
        else:   # an unlinked host runs nowhere in particular: its own group
            groups[node.name] = [node.name]
    return groups


def _group_pin(lab: Lab, members: list[str]) -> str | None:
    pins = {lab.nodes[m].host for m in members if lab.nodes[m].host != UNPLACED}
    if len(pins) > 1:
        named = ", ".join(f"{m} on {lab.nodes[m].host} ({lab.nodes[m].where})" for m in members
                          if lab.nodes[m].host != UNPLACED)
        raise TopologyError(f"{named}: a lab host runs with the router it is linked to, so they "
                            "share one host; give them the same 'host:' or drop it from one")
    return pins.pop() if pins else None


def _partition(nparts: int, adjacency: list[list[int]], eweights: list[list[int]],
               vweights: list[int]) -> list[int]:
    try:
        import pymetis
    except ImportError:
        raise TopologyError("placing nodes on several hosts needs pymetis (pip install "
                            "pymetis), or give every node a 'host:'") from None
    xadj, adjncy, ew = [0], [], []
    for nbrs, ws in zip(adjacency, eweights):
        adjncy += nbrs
        ew += ws
        xadj.append(len(adjncy))
    opts = pymetis.Options(seed=METIS_SEED, ufactor=METIS_UFACTOR)
    _cut, parts = pymetis.part_graph(nparts, pymetis.CSRAdjacency(xadj, adjncy),
                                     vweights=vweights, eweights=ew or None, options=opts)
    return list(parts)


def place(lab: Lab) -> Placement:
    """Place every unpinned node of `lab` (sets node.host) and return the placement."""
    hosts = placement_hosts(lab)
    groups = router_groups(lab)
    pin = {leader: _group_pin(lab, members) for leader, members in groups.items()}
    automatic: list[str] = []
    free = [g for g in groups if pin[g] is None]
    method = "pinned"
    if len(hosts) > 1 and free:
        method = "metis"
        # vertices: free groups first, then one contracted vertex per host with pins
        pinned_hosts = [h for h in hosts if any(p == h for p in pin.values())]
        vertex = {g: i for i, g in enumerate(free)}
        for j, h in enumerate(pinned_hosts):
            for g, p in pin.items():
                if p == h:
                    vertex[g] = len(free) + j
        nv = len(free) + len(pinned_hosts)
        vweights = [len(groups[g]) for g in free] + [
            sum(len(groups[g]) for g, p in pin.items() if p == h) for h in pinned_hosts]
        leader = {m: g for g, members in groups.items() for m in members}
        weight: dict = {}
        for link in lab.links:
            u, v = vertex[leader[link.a.node]], vertex[leader[link.b.node]]
            if u != v:
                key = (min(u, v), max(u, v))
                weight[key] = weight.get(key, 0) + 1
        adjacency = [[] for _ in range(nv)]
        eweights = [[] for _ in range(nv)]
        for (u, v), w in sorted(weight.items()):
            adjacency[u].append(v)
            eweights[u].append(w)
            adjacency[v].append(u)
            eweights[v].append(w)
        parts = _partition(len(hosts), adjacency, eweights, vweights)
        host_of_part: dict = {}
        by_weight = sorted(range(len(pinned_hosts)), key=lambda j: -vweights[len(free) + j])
        for j in by_weight:   # a part goes to the heaviest pinned host it holds
            host_of_part.setdefault(parts[len(free) + j], pinned_hosts[j])
        spare = iter(h for h in hosts if h not in host_of_part.values())
        for part in range(len(hosts)):
            if part not in host_of_part:
                host_of_part[part] = next(spare)
        for g in free:
            pin[g] = host_of_part[parts[vertex[g]]]
    for g, members in groups.items():
        for m in members:   # a lab host follows its router, pinned or placed
            if lab.nodes[m].host == UNPLACED and pin[g] is not None:
                lab.nodes[m].host = pin[g]
                automatic.append(m)
    order = list(lab.nodes)
    placement = Placement(hosts={n: lab.nodes[n].host for n in order},
                          automatic=[n for n in order if n in automatic], method=method)
    placement.crossing = [link for link in lab.links
                          if placement.hosts[link.a.node] != placement.hosts[link.b.node]]
    return placement
