# vforward: `make run` sets everything up and runs the default job;
# `make test` sets everything up and runs the whole test suite.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := iproute2 iputils-ping traceroute iperf3 netsniff-ng tcpdump tshark \
                bird2 frr graphviz nftables procps gcc python3-dev python3-venv ethtool

.PHONY: run test setup system venv build bench clean

run: setup
	$(VENV)/bin/vforward demo

test: setup
	$(VENV)/bin/pytest -q tests

setup: system venv build

# Debian packages the tests and the demo use; apt-get only runs when one is missing.
system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi

venv:
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip setuptools wheel cython numpy 2>&1 | grep -v '^WARNING: Location' || true

# Editable install (again only when the packaging files change); the compiled
# kernels are then rebuilt in place under cext/ whenever a .pyx changed.
build: $(VENV)/.installed
	@$(PY) setup.py -q build_ext --inplace 2>&1 | grep -v -e '^WARNING: Location' -e 'Deprecat' -e '^!!' -e '^ *\*\*\*' -e '^ *$$' || true
	@$(PY) -c 'import glob, importlib, os; [importlib.import_module("vforward.cext." + os.path.basename(p)[:-4]) for p in glob.glob("cext/*.pyx")]'

$(VENV)/.installed: pyproject.toml setup.py
	$(PY) -m pip install -q -e '.[test,experiment]' 2>&1 | grep -v '^WARNING: Location' || true
	@touch $@

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(VENV)/bin/vforward bench forward --json out/forward.json --png out/forward.png
	$(VENV)/bin/vforward bench lab configs/labs/ospf4.yaml --json out/lab.json --png out/lab.png

clean:
	rm -rf build *.egg-info cext/*.c cext/*.so cext/*.html
