"""Hypothesis strategies that write hostile input files for every reader, and the property they
must all satisfy: ingesting the file (reader, bounds, store) either works, with damaged records as
skips, or raises a one-line :class:`InputError`; nothing else escapes, and nothing stored breaks
the bounds (:func:`lightsout.sources.bounds.point_problem`).

Why Hypothesis rather than a byte-level coverage-guided fuzzer: every crasher of issue 13 is a
*valid* CSV or JSON file with one hostile value inside (a time of 1e20, a lone surrogate, 980
levels of nesting), which structure-aware generation writes directly; bytes mutation spends most
inputs on files the first parsing step rejects. Byte mutation of real seeds is here too
(``mutated``), for the binary formats (MRT) and the framing. docs/security.md has the figures.
"""

from __future__ import annotations

import bz2
import gzip
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

SEEDS = Path(__file__).parent / "seeds"

# -- shared pieces -----------------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=5),
    st.sampled_from(["\ud800", "\udfff", "a\x00b", "A" * 1000, "", " ", "..", "/", "?#%", "\u202e"]),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([1e20, 1e308, -1e308, 253402300800, -1, 0, 1e-320, 2**63, 2**64]),
)


def number_text(value: float | int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return repr(value)


CELL = st.one_of(NUMBERS.map(number_text), HOSTILE_TEXT)


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted or removed, or cut short."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 8))):
        if not out:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, len(out) - 1))
        if op == "flip":
            out[at] = draw(st.integers(0, 255))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 16))]
        else:
            del out[at:]
    return bytes(out)


# -- Monash ------------------------------------------------------------------------------------------

MONASH_LAYOUTS = {
    "regional": (
        "iso,id_1,name_1,time_e,time_e_str,lat,lon,connectivity",
        lambda h: ["VEN", "2", "Anzoátegui", str(1563580800 + 3600 * h), "x", "10.1", "-64.7", "100"],
    ),
    "regional_county": (
        "iso,id_1,name_1,id_2,name_2,time_e,time_e_str,lat,lon,connectivity",
        lambda h: ["IRN", "1", "Ardebil", "1", "Ardebil", str(1573430400 + 3600 * h), "x", "38.4", "48.3",
                   "90"],
    ),
    "county_utc": (
        "time_e_utc,time_e_utc_str,connectivity,iso,name_1,name_2,lat,lon",
        lambda h: [str(1598227200 + 3600 * h), "x", "7", "USA", "Arkansas", "Arkansas", "34.2", "-91.2"],
    ),
    "latency": (
        "country_iso_three_char_code,country_iso_name,adm1_name,adm1_unique_identifier,timezone_offset,"
        "timezone_name,time_local,latency_indx",
        lambda h: ["RUS", "Russia", "Kursk", "RUS-42", "3", "Europe/Moscow",
                   f"01-Dec-2021 {h % 24:02d}:00:00", "100.8"],
    ),
    "raw_rtt": (
        "ip_hash,iso,name_0,name_1,name_2,isp_name,owner_name,time_local_str,time_local_hr,rtt",
        lambda h: [f"{h:03d}", "MMR", "Myanmar", "Bago", "Pegu", "Frontiir", "Frontiir",
                   f"2021-02-19 {h % 24:02d}:24:36.000", str(h % 24), "142"],
    ),
}


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


@st.composite
def monash_files(draw: st.DrawFn) -> bytes:
    """A Monash CSV of one layout: good rows, some with hostile cells; sometimes byte-mutated."""
    layout = draw(st.sampled_from(sorted(MONASH_LAYOUTS)))
    header, row = MONASH_LAYOUTS[layout]
    lines = [header]
    for hour in range(draw(st.integers(0, 12))):
        cells = row(hour)
        for _ in range(draw(st.integers(0, 2))):
            cells[draw(st.integers(0, len(cells) - 1))] = draw(CELL)
        if draw(st.integers(0, 9)) == 0:
            cells = cells[: draw(st.integers(0, len(cells)))]
        lines.append(",".join(_csv_cell(c) for c in cells))
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    return draw(mutated(data)) if draw(st.booleans()) and draw(st.booleans()) else data


# -- OONI --------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              HOSTILE_TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children,
                                                                             max_size=4)),
    max_leaves=20,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@st.composite
def ooni_files(draw: st.DrawFn) -> bytes:
    """OONI measurements (JSONL, an array or one document, maybe gzip) with hostile fields."""
    base = json.loads((SEEDS / "ooni-report1.json").read_text(encoding="utf-8"))
    records = []
    for _ in range(draw(st.integers(1, 4))):
        record = dict(base)
        for _ in range(draw(st.integers(0, 3))):
            field = draw(st.sampled_from(["test_name", "input", "probe_network_name", "probe_cc", "probe_asn",
                                          "measurement_start_time", "test_version", "measurement_uid",
                                          "test_keys", "extra"]))
            record[field] = draw(st.one_of(
                JSON_VALUES,
                st.integers(0, 1200).map(_nested),
                st.sampled_from(["0001-01-01 00:00:00", "9999-12-31 23:59:59", "2024-02-30 00:00:00"]),
            ))
        records.append(record)
    layout = draw(st.sampled_from(["jsonl", "array", "pretty"]))
    try:
        if layout == "jsonl":
            data = b"".join(json.dumps(r, ensure_ascii=True).encode() + b"\n" for r in records)
        elif layout == "array":
            data = json.dumps(records, ensure_ascii=True).encode()
        else:
            data = json.dumps(records[0], indent=2, ensure_ascii=True).encode()
    except RecursionError:  # deeper than json.dumps goes: write it by hand
        data = b'{"test_name":"x","test_keys":' + b'{"k":' * 1200 + b"1" + b"}" * 1201 + b"\n"
    if draw(st.integers(0, 4)) == 0:
        data = draw(mutated(data))
    return gzip.compress(data, 1) if draw(st.booleans()) else data


# -- MRT ---------------------------------------------------------------------------------------------


@st.composite
def mrt_files(draw: st.DrawFn) -> bytes:
    """A real MRT update file with bytes flipped, inserted, deleted or cut, re-compressed or not."""
    raw = bz2.decompress((SEEDS / "bgpkit-example-updates.bz2").read_bytes())
    data = draw(mutated(raw))
    packing = draw(st.sampled_from(["plain", "gzip", "bzip2", "mutated-bzip2"]))
    if packing == "gzip":
        return gzip.compress(data, 1)
    if packing == "bzip2":
        return bz2.compress(data, 1)
    if packing == "mutated-bzip2":
        return draw(mutated((SEEDS / "bgpkit-example-updates.bz2").read_bytes()))
    return data


# -- IODA --------------------------------------------------------------------------------------------


@st.composite
def ioda_files(draw: st.DrawFn) -> bytes:
    """A saved IODA signals/raw or outages/events answer with hostile values put in."""
    seed = draw(st.sampled_from(["ioda-country-bgp.json", "ioda-country-events.json"]))
    envelope = json.loads((SEEDS / seed).read_text(encoding="utf-8"))
    signals = envelope["type"] == "signals"
    items = [s for group in envelope["data"] for s in group] if signals else envelope["data"]
    for _ in range(draw(st.integers(0, 4))):
        item = draw(st.sampled_from(items))
        key = draw(st.sampled_from(sorted(item)))
        item[key] = draw(st.one_of(JSON_VALUES, NUMBERS.filter(lambda v: not isinstance(v, float) or
                                                               math.isfinite(v))))
        if key == "values" and draw(st.booleans()):
            item[key] = draw(st.lists(st.one_of(st.none(), NUMBERS.filter(
                lambda v: not isinstance(v, float) or math.isfinite(v))), max_size=50))
    data = json.dumps(envelope, ensure_ascii=True).encode()
    return draw(mutated(data)) if draw(st.integers(0, 3)) == 0 else data


READERS = {
    "monash": (monash_files(), "file.csv"),
    "ooni": (ooni_files(), "file.jsonl"),
    "mrt": (mrt_files(), "updates.20200101.0000"),
    "ioda": (ioda_files(), "signals.json"),
}
