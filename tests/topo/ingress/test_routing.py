"""An ingress node's pool is part of the lab: other routers route it (static
routes, BIRD), the node's router hands it to the node's kernel, clients are
told the lab's prefixes; topology mistakes are located."""
import ipaddress
import textwrap

import pytest

from vforward.topo import bird
from vforward.topo.addressing import assign
from vforward.topo.ingress.server import lab_prefixes, server_address
from vforward.topo.model import TopologyError, parse_lab
from vforward.topo.render import router_config
from vforward.topo.routes import static_routes

LAB = """\
name: ing
routing: {routing}
topology:
  nodes:
    r1:
      ingress: {ingress}
    r2: {{}}
    h1: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "h1:eth1"]
"""


def lab(ingress="{}", routing="static"):
    return assign(parse_lab(LAB.format(ingress=ingress, routing=routing), "lab.yaml"))


def error_of(ingress):
    with pytest.raises(TopologyError) as e:
        parse_lab(LAB.format(ingress=ingress, routing="static"), "lab.yaml")
    return str(e.value)


def test_ingress_defaults_listen_everywhere_on_udp_1194_with_a_private_pool():
    ing = lab().nodes["r1"].ingress
    assert (str(ing.listen), ing.port, ing.proto, str(ing.pool)) == \
        ("0.0.0.0", 1194, "udp", "10.8.0.0/24")
    assert lab().nodes["r2"].ingress is None


def test_other_routers_route_the_pool_toward_the_ingress_node():
    lb = lab("{pool: 10.9.8.0/24}")
    r2 = {str(r.prefix): r for r in static_routes(lb)["r2"]}
    assert str(r2["10.9.8.0/24"].gateway) == str(lb.nodes["r1"].interfaces["eth1"].address.ip)
    assert "10.9.8.0/24" not in {str(r.prefix) for r in static_routes(lb)["r1"]}


def test_the_ingress_router_hands_the_pool_to_its_kernel():
    lb = lab("{pool: 10.9.8.0/24}")
    placement = {"r1": 0, "r2": 0}
    assert "or dst net 10.9.8.0/24" in router_config(lb, lb.nodes["r1"], placement=placement)
    assert "dst net 10.9.8.0/24" not in router_config(lb, lb.nodes["r2"], placement=placement)


def test_bird_announces_the_pool_device_in_ospf_and_direct(tmp_path):
    lb = lab(routing="ospf")
    text = bird.bird_config(lb, lb.nodes["r1"])
    assert f'interface "{bird.INGRESS_DEVICE}" {{ stub yes; }}' in text
    assert f'"{bird.INGRESS_DEVICE}"' in text.split("protocol direct")[1].split("}")[0]
    assert bird.INGRESS_DEVICE not in bird.bird_config(lb, lb.nodes["r2"])
    bird.check_config(bird.write_config(lb, lb.nodes["r1"], str(tmp_path / "bird.conf")))


def test_clients_are_told_the_lab_prefixes_but_not_their_own_pool():
    lb = lab()
    nets = lab_prefixes(lb, lb.nodes["r1"])
    assert ipaddress.IPv4Network("172.16.0.0/16") in nets      # the hosts' LANs
    assert ipaddress.IPv4Network("10.255.0.0/24") in nets      # the loopbacks
    assert not any(n.overlaps(ipaddress.IPv4Network("10.8.0.0/24")) for n in nets)
    assert str(server_address(lb.nodes["r1"])) == "10.8.0.1/24"


@pytest.mark.parametrize("ingress, message", [
    ("{proto: tcp}", "'tcp' is not udp"),
    ("{listne: 198.51.100.1}", "did you mean 'listen'"),
    ("{listen: 198.51.100.300}", "listen must be an IPv4 address"),
    ("{pool: 172.16.5.0/24}", "overlaps addressing.lan"),
    ("{pool: 10.8.0.1/24}", "host bits zero"),
    ("{port: 70000}", "at most 65535"),
])
def test_ingress_mistakes_are_located_with_the_fix(ingress, message):
    text = error_of(ingress)
    assert text.startswith("lab.yaml:") and message in text, text


def test_ingress_on_a_host_is_refused():
    text = textwrap.dedent("""\
        name: ing
        topology:
          nodes:
            r1: {}
            h1: {kind: host, ingress: {}}
          links:
            - endpoints: ["r1:eth1", "h1:eth1"]
        """)
    with pytest.raises(TopologyError, match="lab.yaml:5: .*ingress needs a router node"):
        parse_lab(text, "lab.yaml")
