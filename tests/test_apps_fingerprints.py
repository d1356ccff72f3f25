"""OONI's blocking fingerprints, shipped as package data, and the rules for matching them."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path

from lightsout.apps.fingerprints import load_fingerprints, read_fingerprints
from lightsout.apps.observations import BodyFormat, HttpObservation

DATA = resources.files("lightsout.apps") / "data"


def _response(body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> HttpObservation:
    return HttpObservation(
        url="http://example.org/",
        status=200,
        failure=None,
        body_length=len(body),
        body_is_truncated=False,
        body_format=BodyFormat.TEXT,
        body_is_binary=False,
        title=None,
        headers=headers,
        depth=0,
        transaction_id=None,
        classic=False,
        body=body,
    )


def test_package_data_is_the_recorded_copy(shared_data: Path) -> None:
    readme = (DATA / "README.md").read_text()
    recorded = dict(re.findall(r"\| `(fingerprints_\w+\.json)` \| `([0-9a-f]{64})`", readme))
    assert set(recorded) == {"fingerprints_dns.json", "fingerprints_http.json"}
    for name, sha256 in recorded.items():
        ours = (DATA / name).read_bytes()
        assert hashlib.sha256(ours).hexdigest() == sha256
        assert ours == (shared_data / "ooni/fastpath" / name).read_bytes()
        assert sha256 in (shared_data / "README.md").read_text()


def test_all_fingerprints_load() -> None:
    db = load_fingerprints()
    assert (db.dns_count, db.http_count) == (150, 1699)
    assert db.skipped == ()
    assert load_fingerprints() is db  # read once


def test_dns_fingerprint_and_confirmation() -> None:
    (iran,) = load_fingerprints().match_dns("10.10.34.36")
    assert (iran.name, iran.scope, iran.expected_countries) == (
        "ooni.ir_10dot10_ipv4_1",
        "nat",
        frozenset({"IR"}),
    )
    assert iran.confirms("IR") and iran.confirms("DE")  # national scope confirms anywhere (fastpath rule)
    (localhost,) = load_fingerprints().match_dns("127.0.0.1")
    assert localhost.scope == "vbw" and not localhost.confirms("IT")  # a vague hint, not proof
    assert load_fingerprints().match_dns("93.184.216.34") == ()


def test_body_and_header_fingerprints() -> None:
    db = load_fingerprints()
    malaysia = db.match_http(_response(b"foo ... Makluman/Notification ... foo"))
    assert [fp.name for fp in malaysia] == ["ooni.my_0"] and malaysia[0].confirms("MY")
    indonesia = db.match_http(_response(headers=(("Location", "http://lamanlabuh.aduankonten.id/"),)))
    assert [fp.name for fp in indonesia] == ["ooni.id_lamanlabuh_kominfo"]
    assert db.match_http(_response(b"<html>hello</html>", (("Server", "nginx"),))) == ()


def test_false_positive_fingerprints_never_confirm() -> None:
    matches = load_fingerprints().match_http(_response(b"Checking your browser before accessing the site"))
    assert [fp.name for fp in matches] == ["cp.fp_x_cloudflare_check"]
    assert matches[0].false_positive and not matches[0].confirms("IT")


def test_country_listed_confirms_other_scopes() -> None:
    dns = json.dumps(
        [
            {
                "name": "x.prod",
                "scope": "prod",
                "location_found": "dns",
                "pattern_type": "full",
                "pattern": "1.2.3.4",
                "expected_countries": "RU,BY",
            },
        ]
    ).encode()
    db = read_fingerprints(dns, b"[]")
    (fp,) = db.match_dns("1.2.3.4")
    assert fp.confirms("RU") and not fp.confirms("IT") and not fp.confirms(None)


def test_broken_fingerprint_records_are_skipped_not_fatal() -> None:
    http = json.dumps(
        [
            {
                "name": "ok",
                "scope": "nat",
                "location_found": "body",
                "pattern_type": "regexp",
                "pattern": "blo+cked",
            },
            {
                "name": "bad-re",
                "scope": "nat",
                "location_found": "body",
                "pattern_type": "regexp",
                "pattern": "((",
            },
            {"name": "odd", "scope": "nat", "location_found": "body", "pattern_type": "glob", "pattern": "*"},
            {"scope": "nat"},
            "not an object",
        ]
    ).encode()
    db = read_fingerprints(b"{not json", http)
    assert db.http_count == 1 and db.dns_count == 0
    assert len(db.skipped) == 5
    assert [fp.name for fp in db.match_http(_response(b"you are blooocked"))] == ["ok"]
