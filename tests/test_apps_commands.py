"""``lightsout blocking``: tables and JSON from a real store; untrusted text printed as plain text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from lightsout.cli.blocking import blocking, safe_text
from lightsout.errors import UserError
from lightsout.ingest import ingest_file
from lightsout.model import OoniMeasurement, SourceFile
from lightsout.store import IngestBatch, open_store


def _store(tmp_path: Path, shared_data: Path, extra: tuple[OoniMeasurement, ...] = ()) -> Path:
    db = tmp_path / "store.duckdb"
    store = open_store(db)
    try:
        for name in (
            "fastpath/web_connectivity_ir_fp.json",
            "fastpath/whatsapp.json",
            "wc05_qa/dnsBlockingNXDOMAIN.json",
            "minipipeline/measurement.json",
        ):
            ingest_file(store, shared_data / "ooni" / name)
        if extra:
            source = SourceFile(
                "f" * 64, "synthetic", "ooni-json", datetime(2024, 1, 1, tzinfo=UTC), len(extra), 0, 0
            )
            store.write_batch(IngestBatch(source=source, measurements=list(extra)))
    finally:
        store.close()
    return db


def test_blocking_is_a_click_command() -> None:
    assert isinstance(blocking, click.Command) and blocking.name == "blocking"


def test_json_output(tmp_path: Path, shared_data: Path) -> None:
    result = CliRunner().invoke(blocking, ["--db", str(_store(tmp_path, shared_data)), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [
        (s["country"], s["asn"], s["target"], s["latest"]["status"], s["latest"]["method"])
        for s in data["series"]
    ] == [
        ("IE", 6830, "WhatsApp", "accessible", None),
        ("IR", 197207, "https://www.facebook.com/", "blocked", "dns"),
        ("IT", 137, "https://www.example.com/", "blocked", "dns"),
        ("IT", 30722, "https://nexa.polito.it/", "accessible", None),
    ]
    assert data["series"][2]["counts"] == {"accessible": 0, "blocked": 1, "down": 0, "inconclusive": 0}
    events = data["events"]
    assert [(e["country"], e["asn"], e["method"], e["ongoing"], e["fingerprint"]) for e in events] == [
        ("IR", 197207, "dns", True, "ooni.ir_10dot10_ipv4_1"),
        ("IT", 137, "dns", True, None),
    ]
    assert events[0]["start"] == "2022-08-15T19:01:30+00:00"
    assert events[0]["statement"].startswith(
        "https://www.facebook.com/ blocked on AS197207 in IR by DNS tampering"
    )


def test_country_filter_and_table(tmp_path: Path, shared_data: Path) -> None:
    result = CliRunner().invoke(blocking, ["--db", str(_store(tmp_path, shared_data)), "--country", "IRN"])
    assert result.exit_code == 0, result.output
    assert "Blocking events" in result.output and "AS197207" in result.output
    assert "WhatsApp" not in result.output
    assert "1 measurements judged, 1 series" in result.output and "1 blocking events" in result.output


def test_bad_country_is_a_user_error(tmp_path: Path, shared_data: Path) -> None:
    result = CliRunner().invoke(blocking, ["--db", str(_store(tmp_path, shared_data)), "--country", "QQ"])
    assert isinstance(result.exception, UserError) and "unknown country 'QQ': give an ISO 3166-1 code" in str(
        result.exception
    )


def _hostile(shared_data: Path) -> OoniMeasurement:
    """A real http-diff measurement whose URL and blockpage title carry terminal escapes and markup."""
    record: dict[str, Any] = json.loads(
        (shared_data / "ooni/wc05_qa/httpDiffWithConsistentDNS.json").read_text()
    )
    url = "http://www.example.com/[red]X[/red]\x1b[2J"
    record["input"] = url
    response = record["test_keys"]["requests"][0]
    response["request"]["url"] = url
    body = "<html><title>[blink]Owned\x1b]0;pwned\x07 now</title><script>alert(1)</script></html>"
    response["response"]["body"] = body
    return OoniMeasurement(
        "hostile",
        "web_connectivity",
        "0.5.28",
        "IT",
        137,
        datetime(2024, 5, 1, tzinfo=UTC),
        url,
        json.dumps(record),
    )


def test_untrusted_text_is_printed_plain(tmp_path: Path, shared_data: Path) -> None:
    db = _store(tmp_path, shared_data, (_hostile(shared_data),))
    result = CliRunner().invoke(blocking, ["--db", str(db), "--country", "IT"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "[red]X[/red]" in result.output  # shown literally, not interpreted as markup
    data = json.loads(
        CliRunner().invoke(blocking, ["--db", str(db), "--country", "IT", "--format", "json"]).output
    )
    (hostile,) = [s for s in data["series"] if s["latest"]["measurement_id"] == "hostile"]
    reason = hostile["latest"]["reason"]
    assert hostile["latest"]["method"] == "http_diff"
    assert "title '[blink]Owned\N{REPLACEMENT CHARACTER}]0;pwned\N{REPLACEMENT CHARACTER} now'" in reason
    assert "\x1b" not in reason


def test_safe_text_cleans_and_cuts() -> None:
    text = safe_text("a\x1b[31mb\u202ec" + "x" * 200, limit=20)
    assert (
        text.plain
        == "a\N{REPLACEMENT CHARACTER}[31mb\N{REPLACEMENT CHARACTER}c" + "x" * 10 + "\N{HORIZONTAL ELLIPSIS}"
    )
    assert len(text.plain) == 20 and text.spans == []
    assert safe_text(None).plain == "-"
