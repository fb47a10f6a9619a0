"""Labs: a topology file -> placement, namespaces, TAPs, links, daemons, routers."""
