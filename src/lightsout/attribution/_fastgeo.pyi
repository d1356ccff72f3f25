"""Types of the C extension built from _fastgeo.pyx (optional: geo.py falls back to numpy)."""

import mmap

import numpy as np
import numpy.typing as npt

class CountryWalker:
    def __init__(self, raw: bytes | mmap.mmap, data_start: int) -> None: ...
    def country_indexes_v4(
        self,
        nodes: npt.NDArray[np.uint8],
        record_size: int,
        node_count: int,
        start: int,
        addresses: npt.NDArray[np.uint32],
        codes: list[str],
        index: dict[str, int],
        out: npt.NDArray[np.int32],
    ) -> None: ...

def country_indexes_v6(
    walker: CountryWalker,
    nodes: npt.NDArray[np.uint8],
    record_size: int,
    node_count: int,
    addresses: npt.NDArray[np.uint8],
    codes: list[str],
    index: dict[str, int],
    out: npt.NDArray[np.int32],
) -> None: ...
