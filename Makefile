# vforward: `make run` sets everything up and runs the default job;
# `make test` sets everything up and runs the whole test suite.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := iproute2 iputils-ping traceroute iperf3 netsniff-ng tcpdump tshark \
                bird2 frr graphviz nftables procps gcc python3-dev python3-venv ethtool \
                openvpn

.PHONY: run test setup system venv build bench clean

# Recipes fail when a piped command fails (pip's status is not lost behind a filter).
.SHELLFLAGS := -o pipefail -c
# pip's notes about this machine's own index configuration, not about vforward.
PIP_NOTES := sed -e '/^WARNING: Location .* is ignored/d'

run: setup
	$(VENV)/bin/vforward demo

test: setup
	$(VENV)/bin/pytest -q tests

setup: system venv build

# Debian packages the tests and the demo use; apt-get only runs when one is missing.
system:
	@missing=$$(for p in $(APT_PACKAGES); do [ "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" = "install ok installed" ] || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	else echo "==> Debian packages: all present"; \
	fi

venv:
	@test -x $(PY) || { echo "==> creating the virtualenv $(VENV)"; python3 -m venv $(VENV); }
	@$(PY) -m pip install -q --upgrade pip setuptools wheel cython numpy 2>&1 | $(PIP_NOTES)

# Editable install (again only when the packaging files change); the compiled
# kernels are then rebuilt in place under cext/ whenever a .pyx changed, and
# every one of them must import (kernels.load says which does not, and why).
build: $(VENV)/.installed
	@$(PY) setup.py -q build_ext --inplace
	@$(PY) -c 'from vforward import kernels; [kernels.load(k) for k in kernels.KERNELS]'
	@$(VENV)/bin/vforward --version | sed 's/^/==> /'

# Built with the virtualenv's own Cython and numpy (no build isolation): the kernels
# compile once, against the numpy they run with, and land in cext/ where the
# build_ext above finds them up to date.  setuptools says "Editable installation."
# on every editable install of a tree whose packages map to other folders
# (elements/ -> vforward.elements): a notice, not a fault.
$(VENV)/.installed: pyproject.toml setup.py
	@echo "==> installing vforward into $(VENV) (editable, with the test and experiment dependencies; compiles the kernels)"
	@PYTHONWARNINGS='ignore:Editable installation' \
	  $(PY) -m pip install -q --no-build-isolation -e '.[test,experiment]' 2>&1 | $(PIP_NOTES)
	@touch $@

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(VENV)/bin/vforward bench forward --json out/forward.json --png out/forward.png
	$(VENV)/bin/vforward bench lab configs/labs/ospf4.yaml --json out/lab.json --png out/lab.png

clean:
	rm -rf build *.egg-info cext/*.c cext/*.so cext/*.html
