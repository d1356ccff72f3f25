"""A censorship lab made of network namespaces, for the probe's tests (see lab.py)."""
