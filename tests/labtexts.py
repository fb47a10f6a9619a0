"""Topology texts shared by the lab tests."""


def line_lab(name: str, head: str = "", r1: str = "{}", r2: str = "{}", r1r2: str = "",
             tail: str = "") -> str:
    """h1 - r1 - r2 - h2 under `name`: `head` is top-level YAML before the
    topology (routing:, ipv6: ...), r1/r2 the routers' node mappings, `r1r2`
    more keys of the r1-r2 link (indented lines), `tail` top-level YAML at the
    end (a validate: list)."""
    return (f"name: {name}\n{head}topology:\n  nodes:\n    r1: {r1}\n    r2: {r2}\n"
            "    h1: {kind: host}\n    h2: {kind: host}\n  links:\n"
            f'    - endpoints: ["r1:eth1", "r2:eth1"]\n{r1r2}'
            '    - endpoints: ["h1:eth1", "r1:eth2"]\n'
            '    - endpoints: ["h2:eth1", "r2:eth2"]\n' + tail)
