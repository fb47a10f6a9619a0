"""The node image's Dockerfile (no Docker engine here, so it is not built): what
it copies exists, it installs what a node runs, and it runs what the pods run."""
import os
import re
import shlex

from vforward.cluster.manifests import BUNDLE_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions():
    text = open(os.path.join(ROOT, "Dockerfile")).read().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in
            text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_file_the_dockerfile_copies_from_the_tree_exists_and_is_not_ignored():
    ignored = open(os.path.join(ROOT, ".dockerignore")).read().split()
    copies = [shlex.split(arg) for op, arg in instructions() if op == "COPY"]
    sources = [s for words in copies if not words[0].startswith("--from")
               for s in words[:-1]]
    assert {"pyproject.toml", "setup.py", "MANIFEST.in", "vforward", "cext"} <= set(sources)
    for src in sources:
        assert os.path.exists(os.path.join(ROOT, src)), f"Dockerfile copies missing {src}"
        assert src not in ignored


def test_the_image_is_debian_with_bird_and_iproute2_and_the_wheel_built_from_the_sdist():
    ins = instructions()
    assert [arg.split()[0] for op, arg in ins if op == "FROM"] == ["debian:bookworm-slim"] * 2
    runs = " ".join(arg for op, arg in ins if op == "RUN")
    assert re.search(r"apt-get install .*\bbird2\b.*\biproute2\b", runs)
    assert "python -m build" in runs            # sdist, then the wheel from it
    assert "pip install --no-cache-dir /tmp/*.whl" in runs


def test_the_image_runs_the_entrypoint_the_pods_run_on_their_bundle():
    (cmd,) = [arg for op, arg in instructions() if op == "CMD"]
    assert cmd == f'["vforward", "node", "run", "{BUNDLE_DIR}"]'
