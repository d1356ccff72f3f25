"""A poisoned inbox: bad files between good ones are quarantined and reported once; the good ones
are ingested; `watch` keeps running, stops cleanly on SIGTERM and does not meet the bad file again
after a restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lightsout.inbox import MARKER, Inbox
from lightsout.model import IngestReport
from lightsout.store import Store

MONASH = "monash-ip-observatory"
CORPUS = Path(__file__).parent / "fuzz" / "corpus"


def _poisoned_inbox(shared_data: Path, inbox: Path) -> None:
    inbox.mkdir()
    shutil.copy(shared_data / MONASH / "ven-2019-07-22_gif.csv", inbox / "1-ven.csv")
    shutil.copy(CORPUS / "ooni" / "gzip_bomb.jsonl.gz", inbox / "2-bomb.jsonl.gz")
    (inbox / "3-garbage.bin").write_bytes(b"\x00\x01 not any format")
    shutil.copy(shared_data / MONASH / "ukr-2022-01-18_border-regions.csv", inbox / "4-ukr.csv")


def test_bad_files_are_quarantined_once_and_good_ones_ingested(
    shared_data: Path, tmp_path: Path, store: Store
) -> None:
    inbox = tmp_path / "inbox"
    _poisoned_inbox(shared_data, inbox)
    box = Inbox(inbox)
    results = box.round(store)
    assert [(r.path.name, r.quarantined) for r in results] == [
        ("1-ven.csv", False), ("2-bomb.jsonl.gz", True), ("3-garbage.bin", True), ("4-ukr.csv", False),
    ]
    assert "expands past" in (results[1].error or "") and "cannot tell the format" in (results[2].error or "")
    assert len(store.sources()) == 2
    quarantined = sorted(p.name for p in (inbox / "quarantine").iterdir())
    assert quarantined == [
        "2-bomb.jsonl.gz", "2-bomb.jsonl.gz.reason", "3-garbage.bin", "3-garbage.bin.reason"
    ]
    reason = (inbox / "quarantine" / "3-garbage.bin.reason").read_text(encoding="utf-8")
    assert "cannot tell the format" in reason
    # Reported once: the next rounds (and a new process) see only the good files, already stored.
    again = Inbox(inbox).round(store)
    assert all(not r.quarantined and r.report and r.report.already_ingested for r in again)
    assert not (inbox / MARKER).exists()


def test_a_reader_bug_quarantines_the_file_not_the_service(tmp_path: Path, store: Store) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        (inbox / name).write_text("x\n", encoding="utf-8")

    def ingest(s: Store, path: Path) -> IngestReport:
        if path.name == "b.csv":
            raise RecursionError("maximum recursion depth exceeded")
        return IngestReport(path=str(path), format="test", sha256="0")

    results = Inbox(inbox, ingest=ingest).round(store)
    assert [r.quarantined for r in results] == [False, True, False]
    expected = "internal error while reading it: RecursionError: maximum recursion depth exceeded"
    assert results[1].error == expected
    assert "Traceback" in (inbox / "quarantine" / "b.csv.reason").read_text(encoding="utf-8")


def test_a_file_the_process_dies_on_twice_is_quarantined_at_start(tmp_path: Path, store: Store) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "killer.csv").write_text("x\n", encoding="utf-8")
    # The marker a process leaves when it dies while ingesting killer.csv.
    (inbox / MARKER).write_text("0\tkiller.csv\n", encoding="utf-8")
    assert Inbox(inbox).recover() == []  # one death is forgiven (Ctrl-C, a reboot)
    (inbox / MARKER).write_text("1\tkiller.csv\n", encoding="utf-8")  # and it died again
    [result] = Inbox(inbox).recover()
    assert result.quarantined and "died 2 times" in (result.error or "")
    assert not (inbox / "killer.csv").exists() and (inbox / "quarantine" / "killer.csv").exists()


def _wait_for(path: Path, text: str, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8", errors="replace")
        if text in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not seen in {path.name} within {timeout_s} s:\n{path.read_text()}")


def test_watch_survives_a_poisoned_inbox_and_stops_on_sigterm(shared_data: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    _poisoned_inbox(shared_data, inbox)
    env = {**os.environ, "LIGHTSOUT_DB": str(tmp_path / "db.duckdb"), "COLUMNS": "300"}
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    command = [sys.executable, "-m", "lightsout.cli", "watch", "--inbox", str(inbox), "--interval", "0.5"]
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        try:
            _wait_for(out, "ingested 4-ukr.csv")
            assert process.poll() is None, err.read_text()
            # A file arriving later is ingested by the same running process.
            shutil.copy(shared_data / MONASH / "irn-2019-11-11_gif.csv", inbox / "5-irn.csv")
            _wait_for(out, "ingested 5-irn.csv")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, err.read_text()
        finally:
            if process.poll() is None:
                process.kill()
    errors = err.read_text()
    assert errors.count("quarantined 2-bomb.jsonl.gz") == 1 and errors.count("quarantined 3-garbage.bin") == 1
    assert "ingested 1-ven.csv" in out.read_text() and "SIGTERM: stopping" in errors
    # A restart meets neither bad file again.
    again = subprocess.run([*command, "--once"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "quarantined" not in again.stderr

