"""PaintTee: packets of one colour are copied to output 1."""


def test_only_the_colour_is_copied(make_router):
    r = make_router("InfiniteSource(LIMIT 4) -> Paint(3) -> t :: PaintTee(3) -> a :: Counter "
                    "-> Discard; t[1] -> b :: Counter -> Discard;"
                    "InfiniteSource(LIMIT 2) -> Paint(1) -> t2 :: PaintTee(3) -> Discard; "
                    "t2[1] -> c :: Counter -> Discard")
    r.run_until_idle()
    assert [r.element(n).count for n in "abc"] == [4, 4, 0]
    assert r.pool.n_free == r.pool.n_slots
