"""Names and countries of networks from the packaged AS table (attribution/data/as-table.tsv.gz)."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from click.testing import CliRunner

from lightsout.attribution import asnames
from lightsout.attribution.asnames import as_label, as_table, lookup_as
from lightsout.attribution.entities import make_asn_network, make_asn_networks
from lightsout.cli.data import entities
from lightsout.ingest import ingest_file
from lightsout.model import Entity, EntityKind
from lightsout.store import open_store

TABLE = Path(__file__).resolve().parents[1] / "src/lightsout/attribution/data/as-table.tsv.gz"


def test_iranian_networks_are_named_and_placed() -> None:
    # Iran's two gateways and its two largest mobile operators, by their registry records.
    for asn, name in [(12880, "Information Technology Company"), (58224, "Iran Telecommunication Company"),
                      (44244, "Iran Cell"), (197207, "Mobile Communication Company of Iran")]:  # fmt: skip
        record = lookup_as(asn)
        assert record is not None and record.country_code == "IR", asn
        assert record.name.startswith(name), record
    assert lookup_as(13335) is not None and lookup_as(13335).country_code == "US"  # type: ignore[union-attr]
    assert lookup_as(64500) is None  # documentation range: never routed


def test_table_names_its_source_and_is_well_formed() -> None:
    lines = gzip.decompress(TABLE.read_bytes()).decode().splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert any("@ip-location-db/asn@2.3.2026061719" in h for h in header)
    assert any("CC BY 4.0" in h for h in header)
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    assert len(rows) > 80_000 and all(len(r) == 3 and r[0].isdigit() for r in rows)
    assert all(r[1] == "" or (len(r[1]) == 2 and r[1].isupper()) for r in rows)
    numbers = [int(r[0]) for r in rows]
    assert numbers == sorted(set(numbers))  # sorted and unique: asnames searches the text by bisection


def test_network_entity_labels() -> None:
    itc = make_asn_network(12880)
    assert itc.name == "AS12880 (Information Technology Company (ITC))"
    assert (itc.country_code, itc.parent_id) == ("IR", "country/IR")
    # A source's own name and country win over the table's.
    assert make_asn_network(12880, "DE", "ITC").name == "AS12880 (ITC)"
    assert make_asn_network(12880, "DE").country_code == "DE"
    # IODA's names already carry the number.
    assert as_label(9500, "AS9500 (VODAFONE-TRANSIT-AS)") == "AS9500 (VODAFONE-TRANSIT-AS)"
    assert as_label(64500, None) == "AS64500"
    assert make_asn_network(64500).country_code is None


def test_bulk_network_entities_equal_one_by_one() -> None:
    # ASes of the table (named, unnamed, placed or not; every 25th) and some it lacks, as the MRT reader
    # names them; in C (where built) and in Python
    rows = [line.split("\t") for line in gzip.decompress(TABLE.read_bytes()).decode().splitlines()
            if not line.startswith("#")]  # fmt: skip
    assert as_table() == {int(r[0]): (r[1], r[2]) for r in rows}  # the rows as a split per line reads them
    asns = [int(r[0]) for r in rows[::25]] + [0, 64500, 4_294_967_295, 2**40]
    asns += [int(rows[0][0]), int(rows[-1][0]), int(rows[0][0]) - 1, int(rows[-1][0]) + 1]
    one_by_one = [make_asn_network(asn) for asn in asns]
    # both bulk ways set Entity's slots without its __init__: nothing must run after it
    assert not hasattr(Entity, "__post_init__")
    assert make_asn_networks(asns, fast=False) == one_by_one
    if asnames.columns().network_table is not None:  # the C extension is built
        assert make_asn_networks(asns) == one_by_one
        assert make_asn_networks([]) == [] and make_asn_networks([12880]) == [make_asn_network(12880)]
    # make_asn_network reads the columns too (network_row): against the TSV's records, independently
    def from_tsv(asn: int) -> Entity:
        record = lookup_as(asn)
        country = record.country_code if record else None
        label = as_label(asn, record.name if record else None)
        return Entity(f"network/AS{asn}", EntityKind.NETWORK, f"AS{asn}", label, country,
                      f"country/{country}" if country else None, asn)  # fmt: skip

    assert one_by_one == [from_tsv(asn) for asn in asns]
    found = [asnames.network_row(asn) for asn in asns]
    assert found == [asnames.network_row(asn, fast=False) for asn in asns] and None in found
    assert [asnames.network_row(a) for a in (-1, 2**32, 2**40)] == [None] * 3
    # a source's own (empty) name and country; an AS the table lacks keeps what it is given
    itc = make_asn_network(12880, "", "", place=False)
    assert (itc.name, itc.country_code, itc.parent_id) == (make_asn_network(12880).name, None, None)
    assert make_asn_network(64500, "", "x").country_code == ""
    assert make_asn_network(64500, "DE", "x").name == "AS64500 (x)"


def test_columns_file_is_the_table_as_columns() -> None:
    # as-table.columns.gz (what make_asn_networks reads) holds the TSV's rows, names the TSV it was
    # derived from, and is what build-as-table.py --columns writes from it
    columns = asnames.columns()
    assert columns.source_digest == asnames.table_digest() == hashlib.sha256(TABLE.read_bytes()).digest()
    table = as_table()
    assert columns.asns.tolist() == sorted(table)
    countries = [columns.countries[i] for i in columns.country_index.tolist()]
    assert countries == [table[asn][0] or None for asn in table]
    assert columns.labels == [as_label(asn, name) for asn, (_, name) in table.items()]
    rebuilt = zlib.decompress(asnames.write_columns(table, asnames.table_digest()), wbits=31)
    assert rebuilt == columns.body


def test_entities_lists_irans_bgp_networks(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "bgp.duckdb"
    store = open_store(db)
    try:
        mrt = shared_data / "mrt/collectors/bgpdump-test_data/updates.20100722.2015.gz"
        ingest_file(store, mrt)
        iranian = store.entities(EntityKind.NETWORK, "IR")
    finally:
        store.close()
    assert len(iranian) == 25 and all(e.parent_id == "country/IR" for e in iranian)
    result = CliRunner().invoke(entities, ["--db", str(db), "--kind", "network", "--country", "IR"],
                                terminal_width=160)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AS12880 (Information Technology" in result.output  # the table fits 100 columns: wrapped
    assert "AS5618 (DP IRAN PLC)" in result.output
    assert "25 entities" in result.output


def test_network_page_names_the_network_and_credits_the_table(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lightsout.attribution.entities import make_country
    from lightsout.model import SignalKind, SignalPoint, SourceFile
    from lightsout.store import IngestBatch
    from lightsout.web import make_router

    db = tmp_path / "net.duckdb"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    itc = make_asn_network(12880)
    hours = [start + timedelta(hours=h) for h in range(48)]
    points = [SignalPoint(itc.entity_id, SignalKind.BGP_SLASH24S, "rrc15", t, 3600, 90.0) for t in hours]
    store = open_store(db)
    try:
        source = SourceFile("f" * 64, "/data/rib.gz", "mrt", start, len(points), 0, len(points))
        store.write_batch(IngestBatch(source, [make_country("IR"), itc], points))
    finally:
        store.close()
    app = FastAPI()
    app.include_router(make_router(lambda: open_store(db, read_only=True)))
    html = TestClient(app).get("/entity/network/AS12880").text
    assert "<h1>AS12880 (Information Technology Company (ITC))" in html
    assert 'href="https://db-ip.com"' in html and "CC BY 4.0" in html
    assert ">Iran</a>" in html  # placed in Iran: the breadcrumb leads there
