"""`vforward topo manifests`: the generated objects are valid Kubernetes (the
OpenAPI schema of a current release, offline, through kubernetes-validate) and
say what a lab needs: a pod per router running the node entrypoint on its own
ConfigMap, a headless Service per router named as its peers find it, placement
as nodeSelector or anti-affinity."""
import json

import kubernetes_validate
import pytest
import yaml

from tests.cliprocess import run_cli
from tests.node.labs import three_host_ospf_lab, two_router_lab
from vforward.bundled import lab as lab_path
from vforward.cluster.manifests import (BUNDLE_DIR, for_pods, CONFIGMAP_LIMIT, HOSTNAME_LABEL, RUN_DIR,
                                        lab_manifests)
from vforward.node.bundle import node_bundle
from vforward.topo.deploy import prepare
from vforward.topo.model import TopologyError

K8S_VERSION = kubernetes_validate.latest_version()


def abilene_on_three_hosts(tmp_path):
    text = open(lab_path("abilene.yaml")).read().replace(
        "routing: ospf\n", "routing: ospf\nhosts:\n  west: {address: 192.0.2.1}\n"
        "  mid: {address: 192.0.2.2}\n  east: {address: 192.0.2.3}\n", 1)
    path = tmp_path / "abilene.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture(params=["two-hosts", "three-host-ospf", "abilene-placed", "ospf4.yaml",
                        "ring4.yaml", "abilene.yaml"])
def lab_file(request, tmp_path):
    if request.param == "two-hosts":
        (tmp_path / "lab.yaml").write_text(two_router_lab("mtwo"))
    elif request.param == "three-host-ospf":
        (tmp_path / "lab.yaml").write_text(three_host_ospf_lab("mthree"))
    elif request.param == "abilene-placed":
        return abilene_on_three_hosts(tmp_path)
    else:   # a bundled lab as it ships (no hosts: unplaced)
        return lab_path(request.param)
    return str(tmp_path / "lab.yaml")


def written(lab_file, tmp_path, *extra):
    """The objects `vforward topo manifests LAB -o DIR` writes, read back from its files."""
    out = tmp_path / "manifests"
    p = run_cli("topo", "manifests", lab_file, "-o", str(out), *extra)
    assert p.returncode == 0, p.stderr
    return {p.name: list(yaml.safe_load_all(p.read_text())) for p in sorted(out.iterdir())}


def test_every_object_validates_against_the_kubernetes_openapi_schema(lab_file, tmp_path):
    files = written(lab_file, tmp_path)
    objects = [o for objs in files.values() for o in objs]
    assert len(objects) == 1 + 3 * len(prepare(lab_file).routers())
    for obj in objects:   # strict: an unknown field is an error too
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_schema_check_rejects_a_broken_pod(tmp_path):
    (tmp_path / "lab.yaml").write_text(two_router_lab("mbad"))
    pod = written(str(tmp_path / "lab.yaml"), tmp_path)["r1.yaml"][2]
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "twenty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    del pod["spec"]["containers"][0]["ports"]
    pod["spec"]["containers"][0]["readinessProbe"]["exec"]["cmd"] = ["x"]   # misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_each_router_gets_its_bundle_a_pod_running_the_entrypoint_and_a_service(tmp_path):
    (tmp_path / "lab.yaml").write_text(three_host_ospf_lab("mthree"))
    files = written(str(tmp_path / "lab.yaml"), tmp_path, "--image", "reg.example/vf:1",
                    "--namespace", "labns")
    lab = for_pods(prepare(str(tmp_path / "lab.yaml")))
    assert set(files) == {"00-namespace.yaml"} | {f"{r.name}.yaml" for r in lab.routers()}
    ns = files["00-namespace.yaml"][0]["metadata"]
    assert ns["name"] == "labns"
    # baseline Pod Security would refuse hostPath and NET_ADMIN
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    services = {f.removesuffix(".yaml") for f in files if f != "00-namespace.yaml"}
    for router in lab.routers():
        configmap, service, pod = files[f"{router.name}.yaml"]
        assert [o["kind"] for o in (configmap, service, pod)] == ["ConfigMap", "Service", "Pod"]
        assert {o["metadata"]["namespace"] for o in (configmap, service, pod)} == {"labns"}
        assert configmap["data"] == node_bundle(lab, router.name, {n: None for n in lab.nodes})
        assert sum(len(t.encode()) for t in configmap["data"].values()) < CONFIGMAP_LIMIT
        spec = json.loads(configmap["data"]["node.json"])
        c = pod["spec"]["containers"][0]
        assert c["image"] == "reg.example/vf:1"
        assert c["command"] == ["vforward", "node", "run", BUNDLE_DIR]
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert mounts["bundle"] == BUNDLE_DIR
        assert volumes["bundle"]["configMap"]["name"] == configmap["metadata"]["name"]
        assert volumes[next(n for n, p in mounts.items() if p == "/dev/net/tun")]["hostPath"] == \
            {"path": "/dev/net/tun", "type": "CharDevice"}
        assert "NET_ADMIN" in c["securityContext"]["capabilities"]["add"]
        assert c["readinessProbe"]["exec"]["command"] == ["test", "-e", f"{RUN_DIR}/ready"]
        assert pod["spec"]["nodeSelector"] == {HOSTNAME_LABEL: router.host}
        # the Service selects this pod only, is headless, publishes before readiness
        # (a node is ready only once it found its peers) and carries its links' ports
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is True
        assert all(pod["metadata"]["labels"][k] == v
                   for k, v in service["spec"]["selector"].items())
        udp = sorted(p["port"] for p in service["spec"]["ports"] if p["protocol"] == "UDP")
        assert udp == sorted(link["local_port"] for link in spec["links"])
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["VFORWARD_PEER_SUFFIX"] == ".labns.svc"
        for link in spec["links"]:   # every peer is found through a Service of the lab
            assert link["peer"]["name"] in services and link["peer"]["address"] is None


def test_a_lab_without_hosts_spreads_its_pods_by_anti_affinity(tmp_path):
    files = written(lab_path("ospf4.yaml"), tmp_path)
    pod = files["r1.yaml"][2]
    assert "nodeSelector" not in pod["spec"]
    term = pod["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == HOSTNAME_LABEL
    assert term["labelSelector"]["matchLabels"] == {"vforward.io/lab": "ospf4"}


def test_automatic_placement_becomes_node_selectors(tmp_path):
    path = abilene_on_three_hosts(tmp_path)
    files = written(path, tmp_path)
    chosen = {f.removesuffix(".yaml"): objs[2]["spec"]["nodeSelector"][HOSTNAME_LABEL]
              for f, objs in files.items() if f != "00-namespace.yaml"}
    lab = prepare(path)
    assert chosen == {r.name: r.host for r in lab.routers()}
    # balanced in nodes (a lab host counts where its router runs): 13 nodes, 4 4 5
    placed = [n.host for n in lab.nodes.values()]
    assert sorted(placed.count(h) for h in ("west", "mid", "east")) == [4, 4, 5]


def test_a_router_owning_lab_hosts_may_make_their_namespaces():
    lab = prepare(lab_path("ospf4.yaml"))
    m = lab_manifests(lab)
    caps = {f: objs[2]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
            for f, objs in m.items() if f != "00-namespace.yaml"}
    with_hosts = {f"{i.link.other(i).node}.yaml" for n in lab.nodes.values() if not n.is_router
                  for i in n.interfaces.values()}
    for f, add in caps.items():
        assert ("SYS_ADMIN" in add) == (f in with_hosts)


def test_a_node_name_that_cannot_name_a_service_is_refused(tmp_path):
    (tmp_path / "lab.yaml").write_text(two_router_lab("mname").replace("r2", "r2-"))
    with pytest.raises(TopologyError, match="r2-.*cannot end with '-'"):
        lab_manifests(prepare(str(tmp_path / "lab.yaml")))


def test_an_interface_named_like_the_pods_own_is_refused(tmp_path):
    (tmp_path / "lab.yaml").write_text(two_router_lab("meth0").replace("r2:eth1]", "r2:eth0]"))
    with pytest.raises(TopologyError, match=r"r2:eth0 would take the name of the pod's own"):
        lab_manifests(prepare(str(tmp_path / "lab.yaml")))


def test_every_router_link_gets_the_pod_network_mtu_less_the_encapsulation(tmp_path):
    (tmp_path / "lab.yaml").write_text(three_host_ospf_lab("mmtu").replace(
        "c: {address: 192.0.2.3}", "c: {address: 192.0.2.3, mtu: 1450}"))
    lab = prepare(str(tmp_path / "lab.yaml"))
    files = lab_manifests(lab)
    mtu = {}
    for f, objs in files.items():
        if f != "00-namespace.yaml":
            spec = json.loads(objs[0]["data"]["node.json"])
            click = objs[0]["data"]["router.click"]
            for i in spec["interfaces"]:
                mtu[f"{spec['node']}:{i['name']}"] = i["mtu"]
                assert f"DEVNAME {i['name']}, ETHER {i['mac']}, MTU {i['mtu']}," in click
    assert mtu["r1:eth1"] == 1500 - 54          # r1 -- r2, both on host a
    assert mtu["r9:eth1"] == 1450 - 54          # r9 -- r10, both on host c (mtu 1450)
    assert mtu["r8:eth3"] == 1450 - 54          # r8 (b) -- r11 (c)
    assert mtu["r1:eth4"] == 1500               # h1's TAP, inside r1's pod
