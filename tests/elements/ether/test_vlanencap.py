"""VLANEncap / VLANDecap / SetVLANAnno: tags in, tags out, through the annotation."""
from vforward.clickcli import main


def _hex(err: str) -> list[str]:
    return [ln.split("|")[1].replace(" ", "") for ln in err.splitlines() if "|" in ln]


def test_tag_goes_after_the_addresses_and_comes_back_out(capfd):
    main(["-e", "InfiniteSource(DATA \\<0102>, LIMIT 1, STOP true) "
          "-> EtherEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2) -> VLANEncap(5, 3) -> Print "
          "-> VLANDecap -> Print -> VLANEncap(ANNO) -> Print -> Discard"])
    tagged, plain, again = _hex(capfd.readouterr().err)
    assert tagged == "020202020202" "010101010101" "8100" "6005" "0800" "0102"
    assert plain == "020202020202" "010101010101" "0800" "0102"
    assert again == tagged      # VLANDecap kept the TCI in the annotation


def test_native_vlan_stays_untagged_and_setvlananno_sets_the_tag(capfd):
    main(["-e", "InfiniteSource(DATA \\<0102>, LIMIT 1, STOP true) "
          "-> EtherEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2) -> SetVLANAnno(7) "
          "-> VLANEncap(ANNO, NATIVE_VLAN 7) -> Print -> SetVLANAnno(VLAN_ID 9, VLAN_PCP 1) "
          "-> VLANEncap(ANNO, ETHERTYPE 0x88a8) -> Print -> VLANDecap -> Print(b) "
          "-> VLANDecap(ETHERTYPE 0x88a8) -> Print(c) -> Discard"])
    native, qinq, b, c = _hex(capfd.readouterr().err)
    assert len(native) == 2 * 16
    assert qinq[24:32] == "88a82009"
    assert b == qinq                 # an 802.1Q decap leaves an 802.1ad tag alone
    assert c == native
