"""Clipboard: ranges copied on input 0, pasted on input 1."""
from vforward.clickcli import main


def test_pastes_the_ranges_of_the_last_packet_copied(capfd):
    main(["--simtime", "-e", """
cb :: Clipboard(0/1, 4/2);
TimedSource(0.001, "Hello", LIMIT 1) -> [0] cb [0] -> Discard;
TimedSource(0.0025, "Wxyz wo", LIMIT 1) -> [0] cb;
TimedSource(0.002, "ab", LIMIT 1) -> [1] cb;
TimedSource(0.002, "..........", LIMIT 3, STOP true) -> [1] cb [1] -> Print(CONTENTS HEX) -> Discard;
""", "-h", "cb.data"])
    out = capfd.readouterr()
    got = [bytes.fromhex(ln.split("|")[1].replace(" ", "")) for ln in out.err.splitlines()]
    # 'ab' is reached only by the first range; a later copy replaces the clipboard
    assert got == [b"Hb", b"H...o.....", b"W... w....", b"W... w...."]
    assert out.out == "572077\n"
