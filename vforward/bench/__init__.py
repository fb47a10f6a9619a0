"""Benchmarks that `vforward bench` runs: forwarding through a router node,
measured against the Linux kernel on identical traffic (`forward`)."""
