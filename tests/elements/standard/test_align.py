"""Align and AlignmentInfo: accepted, packets untouched."""
import pytest

from vforward.graph import GraphError


def test_align_passes_packets_unchanged(make_router):
    r = make_router("InfiniteSource(LIMIT 3, LENGTH 61) -> Align(4, 2) -> c :: Counter -> Discard;"
                    " AlignmentInfo(c 4 2)")
    r.run_until_idle()
    assert (r.element("c").count, r.element("c").byte_count) == (3, 183)


def test_align_checks_its_modulus(make_router):
    with pytest.raises(GraphError, match="MODULUS must be 2, 4 or 8"):
        make_router("Idle -> Align(3, 0) -> Discard")
