"""Trace analysis elements: Click's IP summary dumps."""
