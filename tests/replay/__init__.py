"""Loopback replay of recorded API answers, with injectable faults (see :mod:`tests.replay.server`)."""
