"""vforward: a Click-style modular packet forwarding engine for network experiments."""
__version__ = "0.1.0"
