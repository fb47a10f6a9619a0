"""One node of a lab, run on its own: the node bundle and the node entrypoint.

A lab spread over several machines runs every router as one unit of its
own -- a Kubernetes pod, or a namespace on an emulated host -- and every
such unit runs the same command on the same files:

    vforward node render LAB.yaml NODE -o DIR     # write the node's bundle
    vforward node run DIR                          # run it (a pod's command)
    vforward node relay                            # stdin/stdout <-> its control socket

`vforward.node.bundle.node_bundle(lab, node_name)` returns the bundle as
{relative file name: text}; `render` writes it.  Only router nodes have a
bundle: a host node (kind host) rides in the bundle of the router it is
linked to (see "attached hosts" below).

The contract (version 1)
------------------------

Files in DIR (flat, names valid as ConfigMap keys; DIR may be read-only):

  node.json      what the node is and whom it talks to (fields below)
  router.click   the router's Click configuration.  Every link to another
                 router is an Ethernet-over-UDP link whose remote address
                 is the define `$PEER_<iface>` (the interface name with '-'
                 and '.' written '_'); the file defines it as the fallback
                 address, `node run` overrides it with the peer it resolved.
                 Its devices are created in the current network namespace.
  bird.conf      BIRD 2's configuration, present when the node routes
                 dynamically (OSPF, BGP)

node.json:

  version        1
  lab            the lab's name
  node           this node's name
  host           the host it is placed on (the `hosts:` key; "local" if none)
  routing        "static" or "ospf"
  loopback       "10.255.0.1/32": put on `lo`
  router         "router.click"
  bird           "bird.conf" or null
  interfaces     [{name, address ("10.0.0.1/30"), mac, mtu, peer ("r2:eth1"),
                   link (index in the lab)}]: the TAPs `node run` brings up
                   in its own network namespace (router.click creates them)
  links          [{interface, link, key (64-bit link key), local_port,
                   define ("PEER_eth1"), cross_host (bool), mtu,
                   peer: {node, interface, name (DNS name without suffix),
                          address (fallback address or null), port,
                          family (4 or 6: the address family looked up)}}]:
                   one per link to another router; UDP from
                   0.0.0.0:local_port ([::]:local_port on an IPv6
                   underlay) to the peer's port
  underlay_family 4 or 6: with 6 `node run` keeps IPv6 on in its namespace
                   (the dual-stack sysctls), which its underlay needs
  routes         [{prefix, via, dev}]: static routes of the node's own
                   kernel (static routing only; with BIRD it is empty)
  ipv6, kernel6  a dual-stack node: IPv6 stays on in its namespace and
                   the `ip -batch` lines of kernel6 (its interfaces' IPv6
                   addresses, loopback6, static IPv6 routes) run once its
                   TAPs exist
  attached_hosts [{node, netns, address, gateway, ipv6, kernel6}]: host
                   nodes (kernel6: their IPv6 address and default route) whose TAP
                   this router owns; `node run` uses the named network
                   namespace `netns` if it exists and leaves it, else
                   creates it (`ip netns add`, which needs CAP_SYS_ADMIN in
                   a container; the name is seen in node run's own mount
                   namespace) and removes it on exit

Peers.  A peer's name is resolved as `name + $VFORWARD_PEER_SUFFIX`
(getaddrinfo, so /etc/hosts and the pod's DNS search path apply; with
Kubernetes one headless Service per node, named after the node, makes
`name` resolve inside the lab's namespace; the Service must set
`publishNotReadyAddresses: true`, since a node becomes ready only after its
peers resolve, and two neighbours waiting for each other's readiness would
wait forever).  If the name does not resolve
the `address` is used; if neither gives an address yet, `node run` keeps
retrying every RETRY seconds, logging which peer it waits for, and starts
the router once every peer has an address.  Running, it re-resolves every
RERESOLVE seconds and re-points a link whose peer moved (a restarted pod
gets a new address) through the link's handlers.

Environment (all optional):

  VFORWARD_PEER_SUFFIX   appended to every peer name, e.g. ".mylab.svc.cluster.local"
  VFORWARD_RUN_DIR       where the node writes (default /run/vforward/node):
                           control.sock  the router's control socket
                           bird/         BIRD's socket (bird.ctl), pid and log
                           ready         exists while the node is up (readiness probe:
                                         `test -e /run/vforward/node/ready`)
  VFORWARD_RERESOLVE     seconds between re-resolutions of the peers (default 10)
  VFORWARD_METRICS       Prometheus metrics listen address (default 0.0.0.0:9100;
                           "off" for none): GET /metrics

`node run` options override them: --run-dir, --control, --metrics,
--peer-suffix.

Lifecycle.  `node run` sets the node kernel's sysctls (no forwarding, no
IPv6, no reverse-path filter), starts the router (TAPs, links), puts the
loopback and static routes in, starts BIRD, then writes `ready`.  On
SIGTERM or SIGINT it removes `ready`, stops BIRD and the router, deletes
the TAPs and attached host namespaces it created, and exits 0.  It exits
non-zero with a message if the bundle is malformed or a part fails to
start.

Operating a running node.  `vforward node relay [--control PATH]`, run
beside `node run` (in the pod, by exec), joins its stdin and stdout to the
node's control socket (by default $VFORWARD_RUN_DIR/control.sock, as `node
run` makes it) until either ends; the lab commands speak the control
protocol through it (vforward.cluster.kubeaccess), started as `python3 -m
vforward.node.relay`, the same without the command line's imports.  They also need, in the
node's image: `ip` (a lab host's commands run under `ip netns exec`), `ping`
and `traceroute` (validate), `cat` and `rm` (a capture written in RUN_DIR is
streamed back, then removed), `sh` (an interactive exec).

MTU.  A link that crosses hosts carries each frame in UDP over the
underlay, so its lab interfaces get the smaller of the two hosts' `mtu`
minus ETHERLINK_OVERHEAD (54 bytes: outer IPv4 20, UDP 8, link header 12,
inner Ethernet 14; 74 when the hosts' addresses are IPv6, whose outer header
is 40: see vforward.topo.underlay), as Linux's vxlan takes 50 off its lower
device.  A
packet too big for such an interface is fragmented by the router, or, with
DF set, dropped with ICMP "fragmentation needed" carrying that MTU, so
path-MTU discovery works through the lab.  Links inside one host keep 1500.
"""
