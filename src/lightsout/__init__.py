"""Lightsout: an open observatory for internet shutdowns."""

import os

__version__ = "0.1.0"

# numpy's OpenBLAS starts a thread per core when numpy is first imported, which cost ~45 ms of CPU
# in every fresh process here (each MRT worker, each CLI run: numpy's import 0.14-0.15 -> 0.09-0.10
# CPU s with one thread). Lightsout does no linear algebra (no BLAS call in the package), so one
# thread, unless the environment already says otherwise. Set before any numpy import of ours.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
