"""Hypothesis against atheris: the same readers, the same harness, the same time; which finds more?

    python bench/bench_fuzz.py [--seconds 60] [--readers monash,ooni] [--engines hypothesis,atheris]
                               [--code REV]

Each engine fuzzes each reader in a process of its own for ``--seconds``, every input going
through the whole ingest into a DuckDB store (reader, bounds, store: what a user's file goes
through), with the same per-input guard: an input that raises anything but a one-line
``InputError`` is a crash, one running over 10 s is a hang, and the address space is capped at
3 GiB (a decompression bomb is a ``MemoryError``, not a swapped machine). Crashes are counted, not
stopped at, and told apart by exception type and innermost Lightsout line.

* **hypothesis**: the structure-aware strategies of ``tests/fuzz/strategies.py`` (valid files with
  hostile values put in, byte mutations of real seeds), generation only (no shrinking).
* **atheris** (libFuzzer, coverage-guided, Lightsout's bytecode instrumented): bytes, starting from
  the same seeds the strategies build on (one valid file per Monash layout, the OONI report as a
  document and as a JSONL line). ``--atheris-dict`` adds a libFuzzer dictionary of the strategies'
  hostile values (the same knowledge Hypothesis is given), as a third engine ``atheris+dict``.

Figures per engine and reader: inputs tried and inputs/s; **coverage**, measured afterwards and the
same way for every engine, by replaying under coverage.py (branch mode) what the engine tried
(Hypothesis: every input; atheris: its corpus, which by libFuzzer's rule keeps every input that
reached new code) - lines and arcs of ``lightsout`` executed, also for the seeds alone as the
baseline; crashes (distinct places, and inputs); peak RSS of the fuzzing process. Ratios are
atheris over Hypothesis, measured in the same run.

``--code REV`` fuzzes Lightsout's source as it was at git revision REV (extracted to a temporary
directory, e.g. 3f14a5d, before issue 13's fixes): which engine finds the known crashers, and how
fast. atheris is an optional extra (``pip install -e '.[fuzz]'``); without it that engine is
reported as missing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "tests" / "fuzz" / "seeds"
NAMES = {"monash": "file.csv", "ooni": "file.jsonl", "mrt": "updates.20200101.0000", "ioda": "signals.json"}
HANG_S = 10
MEMORY_CAP = 3 << 30


# -- the harness every engine runs (inside a worker process) -----------------------------------------


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang


class Harness:
    """One input: write it, ingest it; count outcomes and crashes; save it when asked."""

    def __init__(self, reader: str, workdir: Path, keep: Path | None) -> None:
        from lightsout.ingest import InputFormat
        from lightsout.store import open_store

        self.reader = reader
        self.format = InputFormat(reader)
        self.workdir = workdir
        self.keep = keep
        self.store = open_store(workdir / "fuzz.duckdb")
        self.tried = 0
        self.outcomes: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()
        signal.signal(signal.SIGALRM, _alarm)

    def run(self, data: bytes) -> None:
        from lightsout.errors import InputError
        from lightsout.ingest import ingest_file

        self.tried += 1
        if self.keep is not None:
            (self.keep / hashlib.sha256(data).hexdigest()[:32]).write_bytes(data)
        path = self.workdir / NAMES[self.reader]
        path.write_bytes(data)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
        try:
            report = ingest_file(self.store, path, self.format)
            self.outcomes["already" if report.already_ingested else "ingested"] += 1
        except InputError:
            self.outcomes["refused"] += 1
        except _Hang:
            self._crashed(f"hang over {HANG_S} s", data)
        except Exception as exc:  # the crash we are looking for
            self._crashed(_place(exc), data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _crashed(self, place: str, data: bytes) -> None:
        self.crashes[place] += 1
        where = os.environ.get("LIGHTSOUT_FUZZ_ARTIFACTS")
        if where:  # the input, to reproduce it (one file per input)
            name = f"{self.reader}-{hashlib.sha256(data).hexdigest()[:16]}"
            (Path(where) / name).write_bytes(data)
            (Path(where) / f"{name}.txt").write_text(place + "\n")

    def result(self) -> dict[str, Any]:
        return {"tried": self.tried, "outcomes": dict(self.outcomes), "crashes": dict(self.crashes)}


def _place(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "lightsout" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def seed_inputs(reader: str) -> list[bytes]:
    """The seeds both engines build on (the strategies' own base material)."""
    sys.path.insert(0, str(REPO))
    if reader == "monash":
        from tests.fuzz.strategies import MONASH_LAYOUTS

        return [
            ("\n".join([header, *(",".join(row(h)) for h in range(6))]) + "\n").encode()
            for header, row in MONASH_LAYOUTS.values()
        ]
    if reader == "ooni":
        document = (SEEDS / "ooni-report1.json").read_bytes()
        return [document, json.dumps(json.loads(document)).encode() + b"\n"]
    if reader == "mrt":
        import bz2

        return [bz2.decompress((SEEDS / "bgpkit-example-updates.bz2").read_bytes())]
    return [(SEEDS / name).read_bytes() for name in ("ioda-country-bgp.json", "ioda-country-events.json")]


def dictionary_tokens() -> list[bytes]:
    """The hostile values the Hypothesis strategies draw from, as libFuzzer dictionary entries."""
    numbers = [
        "1e20",
        "1e308",
        "-1e308",
        "253402300800",
        "-1",
        "0",
        "1e-320",
        str(2**63),
        str(2**64),
        "nan",
        "inf",
        "-inf",
        "1e10",
    ]
    texts = [
        "\\ud800",
        "\\udfff",
        "\\u0000",
        "\\u202e",
        "A" * 64,
        "0001-01-01 00:00:00",
        "9999-12-31 23:59:59",
        "2024-02-30 00:00:00",
        '{"k":',
        "[[[[[[[[",
    ]
    return [t.encode() for t in numbers + texts]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def worker_hypothesis(reader: str, seconds: float, workdir: Path, keep: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from hypothesis import HealthCheck, Phase, given, settings
    from tests.fuzz.strategies import READERS

    harness = Harness(reader, workdir, keep)
    deadline = time.monotonic() + seconds

    class TimeUp(Exception):
        pass

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(READERS[reader][0])
    def run(data: bytes) -> None:
        if time.monotonic() > deadline:
            raise TimeUp
        harness.run(data)

    started = time.monotonic()
    with contextlib.suppress(TimeUp):
        run()
    return {**harness.result(), "seconds": time.monotonic() - started}


def worker_atheris(
    reader: str, seconds: float, workdir: Path, corpus: Path, use_dict: bool, out: Path
) -> None:
    """Never returns: libFuzzer owns the process; the result is written when the time is up."""
    import atheris

    for index, seed in enumerate(seed_inputs(reader)):
        (corpus / f"seed-{index}").write_bytes(seed)
    with atheris.instrument_imports(include=["lightsout"]):
        import lightsout.ingest
        import lightsout.store  # noqa: F401

        (workdir / "warmup").mkdir()
        warmup = Harness(reader, workdir / "warmup", None)
        for seed in seed_inputs(reader):  # imports every module the ingest loads, instrumented
            warmup.run(seed)
        warmup.store.close()
    harness = Harness(reader, workdir, None)
    started = time.monotonic()
    deadline = started + seconds

    def one_input(data: bytes) -> None:
        if time.monotonic() > deadline:
            result = {**harness.result(), "seconds": time.monotonic() - started}
            out.write_text(json.dumps(result))
            os._exit(0)
        harness.run(data)

    args = [
        sys.argv[0],
        str(corpus),
        "-timeout=0",
        "-rss_limit_mb=0",
        f"-max_total_time={int(seconds) + 60}",
        "-print_final_stats=0",
        f"-artifact_prefix={workdir}/",  # slow and crashing units stay in the temporary directory
    ]
    if use_dict:
        entries = "\n".join(json.dumps(token.decode()) for token in dictionary_tokens())
        (workdir / "hostile.dict").write_text(entries + "\n")
        args.append(f"-dict={workdir / 'hostile.dict'}")
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def worker_replay(reader: str, inputs: list[Path], workdir: Path) -> dict[str, Any]:
    import coverage

    cov = coverage.Coverage(source_pkgs=["lightsout"], branch=True, data_file=None)
    cov.start()
    harness = Harness(reader, workdir, None)
    for path in inputs:
        harness.run(path.read_bytes())
    harness.store.close()
    cov.stop()
    data = cov.get_data()
    files = data.measured_files()
    lines = sum(len(data.lines(f) or []) for f in files)
    arcs = sum(len(data.arcs(f) or []) for f in files)
    return {"inputs": len(inputs), "lines": lines, "arcs": arcs, "crashes": dict(harness.crashes)}


# -- the parent: one worker process per engine and reader -------------------------------------------


def _spawn(args: list[str], src: Path | None) -> tuple[int, float]:
    """Run a worker; (exit status, peak RSS in MiB of that process alone)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    process = subprocess.Popen(
        [sys.executable, __file__, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.stderr.write(stderr.decode(errors="replace")[-2000:])
    return process.returncode, usage.ru_maxrss / 1024


def _replay(reader: str, inputs: Path, tmp: Path, src: Path | None) -> dict[str, Any]:
    out = tmp / f"replay-{reader}-{inputs.name}.json"
    workdir = Path(tempfile.mkdtemp(dir=tmp))
    _spawn(
        [
            "--worker",
            "replay",
            "--reader",
            reader,
            "--inputs",
            str(inputs),
            "--workdir",
            str(workdir),
            "--out",
            str(out),
        ],
        src,
    )
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def _has_atheris() -> bool:
    import importlib.util

    return importlib.util.find_spec("atheris") is not None


def compare(readers: list[str], engines: list[str], seconds: float, src: Path | None, tmp: Path) -> int:
    rows: list[dict[str, Any]] = []
    for reader in readers:
        seeds = tmp / f"seeds-{reader}"
        seeds.mkdir()
        for index, seed in enumerate(seed_inputs(reader)):
            (seeds / f"seed-{index}").write_bytes(seed)
        baseline = _replay(reader, seeds, tmp, src)
        print(
            f"{reader}: seeds alone cover {baseline['lines']:,} lines, {baseline['arcs']:,} arcs", flush=True
        )
        for engine in engines:
            if engine.startswith("atheris") and not _has_atheris():
                print(f"{reader} {engine}: atheris is not installed (pip install -e '.[fuzz]')")
                continue
            workdir = Path(tempfile.mkdtemp(dir=tmp))
            kept = tmp / f"inputs-{reader}-{engine}"
            kept.mkdir()
            out = tmp / f"result-{reader}-{engine}.json"
            args = [
                "--worker",
                engine,
                "--reader",
                reader,
                "--seconds",
                str(seconds),
                "--workdir",
                str(workdir),
                "--inputs",
                str(kept),
                "--out",
                str(out),
            ]
            status, peak = _spawn(args, src)
            if not out.exists():
                print(f"{reader} {engine}: the worker ended with status {status} and no result")
                continue
            result = json.loads(out.read_text())
            for index, seed in enumerate(seed_inputs(reader)):  # coverage counts the seeds for everyone
                (kept / f"seed-{index}").write_bytes(seed)
            covered = _replay(reader, kept, tmp, src)
            row = {
                "reader": reader,
                "engine": engine,
                **result,
                "peak_mib": peak,
                "lines": covered["lines"],
                "arcs": covered["arcs"],
                "kept": covered["inputs"],
                "seed_lines": baseline["lines"],
                "seed_arcs": baseline["arcs"],
            }
            rows.append(row)
            crashes = row["crashes"]
            print(
                f"{reader} {engine}: {row['tried']:,} inputs in {row['seconds']:.0f} s "
                f"({row['tried'] / row['seconds']:.1f}/s); {row['lines']:,} lines "
                f"(+{row['lines'] - row['seed_lines']} over the seeds), {row['arcs']:,} arcs; "
                f"{len(crashes)} distinct crashes in {sum(crashes.values())} inputs; peak RSS {peak:.0f} MiB",
                flush=True,
            )
            for where, count in sorted(crashes.items(), key=lambda item: -item[1]):
                print(f"    x{count} {where}")
    print()
    print(
        "| reader | engine | inputs | inputs/s | lines | arcs | new lines over seeds | distinct crashes "
        "(inputs) | peak RSS MiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        crashes = row["crashes"]
        print(
            f"| {row['reader']} | {row['engine']} | {row['tried']:,} | {row['tried'] / row['seconds']:.1f} | "
            f"{row['lines']:,} | {row['arcs']:,} | {row['lines'] - row['seed_lines']} | "
            f"{len(crashes)} ({sum(crashes.values())}) | {row['peak_mib']:.0f} |"
        )
    for reader in readers:
        base = next((r for r in rows if r["reader"] == reader and r["engine"] == "hypothesis"), None)
        for row in (r for r in rows if r["reader"] == reader and r["engine"] != "hypothesis"):
            if base is None:
                continue
            speed = (row["tried"] / row["seconds"]) / max(base["tried"] / base["seconds"], 1e-9)
            gained = (row["lines"] - row["seed_lines"]) / max(base["lines"] - base["seed_lines"], 1)
            print(
                f"{reader}: {row['engine']} / hypothesis: {speed:.2f}x inputs/s, {gained:.2f}x new lines, "
                f"{len(row['crashes'])} vs {len(base['crashes'])} distinct crashes"
            )
    return 0


def _extract(rev: str, tmp: Path) -> Path:
    tmp.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    return tmp / "src"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Per engine and reader.")
    parser.add_argument("--readers", default="monash,ooni")
    parser.add_argument("--engines", default="hypothesis,atheris")
    parser.add_argument("--atheris-dict", action="store_true", help="Also run atheris with a dictionary.")
    parser.add_argument("--code", default=None, metavar="REV", help="Fuzz the source at this git revision.")
    parser.add_argument(
        "--artifacts", type=Path, default=None, help="Directory to keep each crashing or hanging input in."
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--reader", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        _limit_memory()
        if args.worker == "hypothesis":
            result = worker_hypothesis(args.reader, args.seconds, args.workdir, args.inputs)
        elif args.worker.startswith("atheris"):
            worker_atheris(
                args.reader, args.seconds, args.workdir, args.inputs, args.worker == "atheris+dict", args.out
            )
            return 1  # libFuzzer stopped before the time was up
        else:
            result = worker_replay(args.reader, sorted(args.inputs.iterdir()), args.workdir)
        args.out.write_text(json.dumps(result))
        return 0
    engines = args.engines.split(",") + (["atheris+dict"] if args.atheris_dict else [])
    if args.artifacts is not None:
        args.artifacts.mkdir(parents=True, exist_ok=True)
        os.environ["LIGHTSOUT_FUZZ_ARTIFACTS"] = str(args.artifacts.resolve())
    with tempfile.TemporaryDirectory(prefix="lightsout-bench-fuzz-") as name:
        tmp = Path(name)
        src = _extract(args.code, tmp / "code") if args.code else None
        where = f"the source at {args.code}" if args.code else "the working tree's source"
        print(f"fuzzing {where}, {args.seconds:.0f} s per engine and reader", flush=True)
        return compare(args.readers.split(","), engines, args.seconds, src, tmp)


if __name__ == "__main__":
    sys.exit(main())
