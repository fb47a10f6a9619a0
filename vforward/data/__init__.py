"""What `vforward demo` runs: a config, a capture and a lab (read through
importlib.resources, so they are found in a wheel as in a source tree)."""
