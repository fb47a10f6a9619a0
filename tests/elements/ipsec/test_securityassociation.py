"""The SA's replay window against the plain rule of RFC 4303 section 3.4.3, and
its sequence numbers."""
from hypothesis import given, strategies as st

from vforward.elements.ipsec.securityassociation import MAX_SEQ, SecurityAssociation, by_handle

KEY = bytes(16)


@given(st.integers(1, 64), st.integers(0, 40),
       st.lists(st.integers(0, 200), max_size=80))
def test_the_window_accepts_exactly_the_new_numbers_not_older_than_the_window(window, replay,
                                                                               arrivals):
    sa = SecurityAssociation(9, KEY, KEY, replay, window)
    seen = set(range(max(replay, 1)))     # numbers below REPLAY count as received
    highest = max(replay, 1) - 1
    for seq in arrivals:
        expect_replay = seq == 0 or seq in seen or seq <= highest - window
        assert sa.replayed(seq) == expect_replay, (seq, highest)
        if not expect_replay:
            sa.accept(seq)
            seen.add(seq)
            highest = max(highest, seq)


def test_sequence_numbers_start_at_replay_and_stop_at_the_last_one():
    sa = SecurityAssociation(9, KEY, KEY, 0, 8)
    assert [sa.take_sequence() for _ in range(3)] == [1, 2, 3]   # never 0 (RFC 4303)
    sa.next_seq = MAX_SEQ
    assert sa.take_sequence() == MAX_SEQ
    assert sa.take_sequence() is None                           # no wrap: rekey


def test_an_sa_is_found_by_its_handle_and_handles_differ():
    a, b = SecurityAssociation(9, KEY, KEY, 1, 8), SecurityAssociation(9, KEY, KEY, 1, 8)
    assert a.handle != b.handle and by_handle(a.handle) is a and by_handle(0) is None
