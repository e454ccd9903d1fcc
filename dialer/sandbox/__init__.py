"""Fake provider servers on loopback for `make run` and the tests; each module is self-contained."""
