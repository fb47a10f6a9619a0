"""Running a config as `click --simtime -e CONFIG -h H...` does, for the tests of
elements whose behaviour is read through their handlers."""
from vforward.clickcli import main


def ip_data(src, dst):
    """An IPv4 header as Click's hex DATA string (checksum not needed: MarkIPHeader)."""
    a = [int(x) for x in src.split(".")] + [int(x) for x in dst.split(".")]
    return "\\<45 00 00 1c 00 00 00 00 40 11 00 00 " + " ".join(f"{x:02x}" for x in a) + \
        " 00 35 00 35 00 08 00 00>"


def handler_texts(capfd, config, *handlers):
    """Each handler's text, as `click -h` prints it (a 'NAME:' line above each when several)."""
    args = ["--simtime", "-e", config]
    for h in handlers:
        args += ["-h", h]
    assert main(args) == 0
    out = capfd.readouterr().out
    if len(handlers) == 1:
        return [out.rstrip("\n")]
    blocks = out.rstrip("\n").split("\n\n")
    assert [b.split("\n", 1)[0] for b in blocks] == [h + ":" for h in handlers]
    return [b.split("\n", 1)[1] for b in blocks]
