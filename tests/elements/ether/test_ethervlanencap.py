"""EtherVLANEncap and StripEtherVLANHeader."""
from vforward.clickcli import main


def test_header_with_tag_then_stripped_back_to_the_payload(capfd):
    main(["-e", "InfiniteSource(DATA \\<aabb>, LIMIT 1, STOP true) "
          "-> EtherVLANEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2, 0x12, 2) -> Print "
          "-> StripEtherVLANHeader -> Print -> EtherVLANEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2, ANNO) "
          "-> Print -> StripEtherVLANHeader -> EtherVLANEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2, ANNO, "
          "NATIVE_VLAN 0x12) -> Print -> Discard"])
    lines = [ln.split("|")[1].replace(" ", "") for ln in capfd.readouterr().err.splitlines()]
    assert lines[0] == "020202020202" "010101010101" "8100" "4012" "0800" "aabb"
    assert lines[1] == "aabb"
    assert lines[2] == lines[0]                 # the stripped tag was kept in the annotation
    assert lines[3] == "020202020202" "010101010101" "0800" "aabb"
