"""Fuzzing the data plane: hostile frames through real graphs, with a ledger.

`frames` makes seeded streams of valid and mutated frames (truncated at any
offset, header and length lies, bad checksums, options, fragments, TTL 0
and 1, bogus tunnel headers, absurd offload annotations); `devices`
replaces a config's devices by in-memory entries and sinks; `ledger`
accounts for every slot (in + made = out + dropped, each drop under a
reason, the pool full again at the end); `kernels` runs a graph on the
plain-Python reference kernels instead of the compiled ones; `graph_run`
puts them together.  The tests run small budgets with fixed seeds;
bench/bench_fuzz.py runs millions of frames.
"""
