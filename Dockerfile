# The node image: what every pod of a lab deployed with `vforward topo deploy --k8s`
# runs (`vforward node run /etc/vforward/node`, the command its manifest gives).
#
#   docker build -t vforward-node:latest .
#
# Stage 1 builds the sdist and, from it, the wheel with the compiled kernels
# (python -m build does both: the wheel is built from the sdist, so the image
# carries exactly what a release would).  Stage 2 is Debian with what a node
# runs besides vforward: BIRD 2 (its routing daemon), iproute2 (TAPs,
# addresses, routes, the namespaces of the lab hosts it owns), and ping and
# traceroute, which `vforward topo validate` runs in the pods.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY vforward ./vforward
COPY elements ./elements
COPY cext ./cext
COPY configs ./configs
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir build \
 && /opt/build/bin/python -m build --outdir /dist .

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv bird2 iproute2 procps \
    iputils-ping traceroute \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /dist/*.whl /tmp/
RUN python3 -m venv /opt/vforward \
 && /opt/vforward/bin/pip install --no-cache-dir /tmp/*.whl \
 && rm /tmp/*.whl
ENV PATH=/opt/vforward/bin:$PATH
CMD ["vforward", "node", "run", "/etc/vforward/node"]
