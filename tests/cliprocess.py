"""`vforward ARGS` run in the test's own process, its output captured as a
subprocess's would be.  For tests whose subject is what a command does with the
cluster API, not the interpreter's start (tests/test_cli.py runs the real
command): each start with the Kubernetes client costs a second or more on a
busy machine."""
import contextlib
import io
import subprocess


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Runs the command under this process's environment; (returncode, stdout, stderr)."""
    from vforward import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as e:     # argparse's usage errors
            code = e.code
    return subprocess.CompletedProcess(["vforward", *args], code, out.getvalue(), err.getvalue())
