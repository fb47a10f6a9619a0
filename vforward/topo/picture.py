"""The topology as a Graphviz picture: routers, hosts, links with their
addresses and conditions."""
from __future__ import annotations

from vforward.topo.model import Lab


def topology_dot(lab: Lab) -> str:
    def q(s):
        return '"' + str(s).replace('"', '\\"') + '"'
    out = [f"graph {q(lab.name)} {{", '  layout=neato; overlap=false; splines=true; sep="+12";',
           '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=8];']
    for node in lab.nodes.values():
        if node.is_router:
            label = f"{node.name}\\n{node.loopback.ip}" if node.loopback else node.name
            out.append(f"  {q(node.name)} [shape=circle, width=0.9, fixedsize=true, style=filled, fillcolor=\"#cfe2f3\", label={q(label)}];")
        else:
            out.append(f"  {q(node.name)} [shape=box, style=rounded, label={q(node.name)}];")
    for link in lab.links:
        imp = link.impair
        notes = []
        if imp.delay:
            notes.append(f"{imp.delay * 1000:g}ms")
        if imp.loss:
            notes.append(f"{imp.loss * 100:g}% loss")
        if imp.rate:
            notes.append(f"{imp.rate * 8 / 1e6:g}Mbit/s")
        label = str(link.subnet) + ("\\n" + ", ".join(notes) if notes else "")
        style = ', style=dashed, color="#cc0000"' if link.state == "down" else ""
        out.append(f"  {q(link.a.node)} -- {q(link.b.node)} [len=2.2, label={q(label)}, "
                   f"taillabel={q(link.a.name)}, headlabel={q(link.b.name)}{style}];")
    out.append("}")
    return "\n".join(out) + "\n"
