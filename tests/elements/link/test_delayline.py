"""DelayLine: packets held until their due time, released in batches, in order unless reordering."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vforward.elements.link.delayline import DelayLine, finish_times


def _idx(*slots):
    return np.array(slots, dtype=np.uint32)


def test_an_in_order_line_holds_a_packet_behind_the_one_before_it():
    line = DelayLine()
    line.add(_idx(1, 2), np.array([0.5, 0.2]))
    line.add(_idx(3), np.array([0.1]))
    assert line.next_due() == 0.5
    assert len(line.pop_due(0.4)) == 0
    assert line.pop_due(0.5).tolist() == [1, 2, 3]
    assert len(line) == 0 and line.next_due() is None


def test_a_reordering_line_releases_by_due_time():
    line = DelayLine(reorder=True)
    line.add(_idx(1, 2), np.array([0.5, 0.2]))
    line.add(_idx(3), np.array([0.1]))
    assert line.next_due() == 0.1
    assert line.pop_due(0.3).tolist() == [3, 2]
    assert line.pop_due(1.0).tolist() == [1]


def test_pop_due_takes_at_most_max_n_and_keeps_the_rest():
    line = DelayLine()
    line.add(_idx(*range(10)), np.zeros(10))
    assert line.pop_due(1.0, max_n=4).tolist() == [0, 1, 2, 3]
    assert len(line) == 6
    assert line.pop_due(1.0).tolist() == [4, 5, 6, 7, 8, 9]


def test_clear_returns_everything_held():
    line = DelayLine()
    line.add(_idx(1, 2), np.array([1.0, 2.0]))
    line.add(_idx(3), np.array([3.0]))
    assert sorted(line.clear().tolist()) == [1, 2, 3]
    assert len(line) == 0


def test_finish_times_send_packets_back_to_back():
    assert finish_times(10.0, np.array([100, 300], dtype=np.uint16), 100.0).tolist() == [11.0, 14.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0, 10), min_size=1, max_size=8), min_size=1, max_size=8),
       st.booleans(), st.lists(st.floats(0, 11), min_size=1, max_size=10))
def test_every_packet_leaves_once_and_never_early(chunks, reorder, ticks):
    line, dues, slot = DelayLine(reorder), {}, 0
    for chunk in chunks:
        idx = np.arange(slot, slot + len(chunk), dtype=np.uint32)
        line.add(idx, np.array(chunk))
        for s, d in zip(idx.tolist(), chunk):
            dues[s] = d
        slot += len(chunk)
    out = []
    for now in sorted(ticks) + [11.0]:
        got = line.pop_due(now).tolist()
        assert all(dues[s] <= now for s in got)
        out += got
    assert sorted(out) == list(range(slot))
    if not reorder:
        assert out == list(range(slot))
