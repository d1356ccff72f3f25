"""Writes the regression corpus: the crashers and silently-accepted values of issue 13, rebuilt
from the issue's description (not copied from anywhere), each a file of a few kB at most.

Run from the repository root: ``python tests/fuzz/make_corpus.py``. Each file's expected outcome
(the skip reason, or the one-line error) is asserted in tests/fuzz/test_corpus.py.
"""

from __future__ import annotations

import bz2
import gzip
import json
import struct
from pathlib import Path

HERE = Path(__file__).parent / "corpus"

VEN_HEAD = "iso,id_1,name_1,time_e,time_e_str,lat,lon,connectivity"
VEN_ROW = "VEN,2,Anzoátegui,{t},20-Jul-2019 00:00:00,10.1,-64.7,{c}"
IRN_HEAD = "iso,id_1,name_1,id_2,name_2,time_e,time_e_str,lat,lon,connectivity"
LAURA_HEAD = "time_e_utc,time_e_utc_str,connectivity,iso,name_1,name_2,lat,lon"
UKR_HEAD = (
    "country_iso_three_char_code,country_iso_name,adm1_name,adm1_unique_identifier,timezone_offset,"
    "timezone_name,time_local,latency_indx"
)
BAGO_HEAD = "ip_hash,iso,name_0,name_1,name_2,isp_name,owner_name,time_local_str,time_local_hr,rtt"


def ven(rows: list[tuple[str, str]]) -> str:
    """A Venezuela regional file: good hourly rows around the given (time_e, connectivity) rows."""
    good = [VEN_ROW.format(t=1563580800 + 3600 * h, c=100) for h in range(3)]
    bad = [VEN_ROW.format(t=t, c=c) for t, c in rows]
    return "\n".join([VEN_HEAD, good[0], *bad, *good[1:]]) + "\n"


def monash() -> dict[str, str]:
    files = {
        "time_e_1e20.csv": ven([("1e20", "100")]),
        "time_e_past_9999.csv": ven([("253402300800", "100")]),
        "time_e_before_1990.csv": ven([("86400", "100")]),
        "time_e_future.csv": ven([("4102444800", "100")]),
        "connectivity_1e308.csv": "\n".join([IRN_HEAD] + [
            f"IRN,1,Ardebil,{county},{name},{1573430400 + 3600 * h},x,38.4,48.3,{level}"
            for h, level in ((0, "100"), (1, "1e308"), (2, "90"))
            for county, name in ((1, "Ardebil"), (2, "Meshgin Shahr"))
        ]) + "\n",
        "connectivity_negative.csv": ven([("1563591600", "-5")]),
        "connectivity_above_100.csv": ven([("1563591600", "250")]),
        "connectivity_inf.csv": ven([("1563591600", "inf"), ("1563595200", "-Infinity")]),
        "name_nul.csv": ven([]).replace("Anzoátegui,1563584400", "Anzo\x00tegui,1563584400"),
        "name_1000_chars.csv": ven([]).replace("Anzoátegui,1563584400", "A" * 1000 + ",1563584400"),
    }
    files["time_e_utc_negative.csv"] = "\n".join([
        LAURA_HEAD,
        "1598227200,24-Aug-2020 00:00:00,7,USA,Arkansas,Arkansas,34.2,-91.2",
        "-1598227200,24-Aug-2020 00:00:00,7,USA,Arkansas,Arkansas,34.2,-91.2",
        "-1e300,24-Aug-2020 00:00:00,7,USA,Arkansas,Arkansas,34.2,-91.2",
        "1598230800,24-Aug-2020 01:00:00,7,USA,Arkansas,Arkansas,34.2,-91.2",
    ]) + "\n"
    files["timezone_offset_1e10.csv"] = "\n".join([
        UKR_HEAD,
        "RUS,Russia,Kursk,RUS-42,3,Europe/Moscow,01-Dec-2021 06:00:00,100.8",
        "RUS,Russia,Kursk,RUS-42,1e10,Europe/Moscow,01-Dec-2021 09:00:00,100.3",
        "RUS,Russia,Kursk,RUS-42,-1e10,Europe/Moscow,01-Dec-2021 12:00:00,100.3",
        "RUS,Russia,Kursk,RUS-42,3,Europe/Moscow,01-Dec-2021 15:00:00,-4",
        "RUS,Russia,Kursk,RUS-42,3,Europe/Moscow,01-Dec-2021 18:00:00,99.1",
    ]) + "\n"
    bago = [
        BAGO_HEAD,
        "014,MMR,Myanmar,Bago,Pegu,Frontiir Co Ltd,Frontiir,2021-02-19 10:24:36.000,10,142",
        "016,MMR,Myanmar,Bago,Pegu,Frontiir Co Ltd,Frontiir,2021-02-19 11:18:11.000,11,356",
        "017,MMR,Myanmar,Bago,Pegu,Frontiir Co Ltd,Frontiir,9999-12-31 23:59:59.000,23,100",
        "018,MMR,Myanmar,Bago,Pegu,Frontiir Co Ltd,Frontiir,2001-01-01 00:00:00.000,0,100",
        "019,MMR,Myanmar,Bago,Pegu,Frontiir Co Ltd,Frontiir,2021-02-19 12:00:00.000,12,-3",
        "020,MMR,Myanmar,Bago,Pegu,Frontiir Co Ltd,Frontiir,2021-02-19 12:30:00.000,12,88",
    ]
    files["bago_far_dated.csv"] = "\n".join(bago) + "\n"
    return files


def ooni_record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "measurement_start_time": "2024-03-01 10:00:00",
        "probe_asn": "AS12880",
        "probe_cc": "IR",
        "probe_network_name": "Iran Telecommunication Company PJS",
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "input": "https://example.org/",
        "test_keys": {"blocking": False, "accessible": True},
    }
    record.update(changes)
    return record


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def ooni() -> dict[str, bytes]:
    good = ooni_record()
    lines = {
        "nested_500.jsonl": [good, ooni_record(test_keys=nested(500))],
        "nested_980.jsonl": [good, ooni_record(test_keys={"requests": [nested(980)]})],
        "surrogate_test_name.jsonl": [good, ooni_record(test_name="web_connectivity\ud800")],
        "surrogate_input.jsonl": [good, ooni_record(input="https://\ud800.example/")],
        "surrogate_network_name.jsonl": [good, ooni_record(probe_network_name="Net\ud800", probe_asn="AS1")],
        "start_year_1.jsonl": [good, ooni_record(measurement_start_time="0001-01-01 00:00:00")],
        "start_year_9999.jsonl": [good, ooni_record(measurement_start_time="9999-12-31 23:59:59")],
        "test_name_nul.jsonl": [good, ooni_record(test_name="web\x00connectivity")],
        "network_name_1000_chars.jsonl": [good, ooni_record(probe_network_name="N" * 1000, probe_asn="AS2")],
    }
    files = {
        name: b"".join(json.dumps(r, ensure_ascii=True).encode() + b"\n" for r in records)
        for name, records in lines.items()
    }
    # A gzip bomb: one good line, then 300 MiB of blanks in 300 kB.
    with_blanks = json.dumps(good).encode() + b"\n" + b" " * (300 << 20)
    files["gzip_bomb.jsonl.gz"] = gzip.compress(with_blanks, 9, mtime=0)
    return files


def mrt() -> dict[str, bytes]:
    # A bzip2 bomb (1.5 kB -> 2 GiB of zeros) and a gzip one, named as MRT update files.
    compressor = bz2.BZ2Compressor(9)
    block = b"\0" * (64 << 20)
    bomb = b"".join(compressor.compress(block) for _ in range(32)) + compressor.flush()
    header = struct.pack(">IHHI", 1700000000, 16, 4, 0)
    zeros = gzip.compress(header + b"\0" * (400 << 20), 9, mtime=0)
    return {"updates.bomb.bz2": bomb, "updates.bomb.gz": zeros}


def main() -> None:
    for name, text in monash().items():
        (HERE / "monash").mkdir(parents=True, exist_ok=True)
        (HERE / "monash" / name).write_text(text, encoding="utf-8", newline="")
    for folder, files in (("ooni", ooni()), ("mrt", mrt())):
        (HERE / folder).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (HERE / folder / name).write_bytes(data)


if __name__ == "__main__":
    main()
