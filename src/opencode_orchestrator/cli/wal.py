"""The ``wal`` command: inspect, verify and repair a mission's write-ahead log.

PATH is the log directory (``.../missions/<id>/wal``), one of its segment
files, or a mission's directory (``.../missions/<id>``: its ``wal/`` is
used). A directory that holds no log (no segment, snapshot or LOCK file) is
refused, and nothing is created in it. A log without any segment is damaged
(``verify`` says so; ``repair`` has nothing to salvage and refuses).
``inspect`` and ``verify`` only read; ``repair`` takes the writer lock.
Exit codes: 0 sound / done, 1 unsound or refused (a PATH that is missing or
holds no log included), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from opencode_orchestrator.wal.errors import WalError
from opencode_orchestrator.wal.tools import (
    LogInspection,
    inspect_log,
    repair_log,
    verify_log,
)

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Register ``wal`` and its ``inspect``, ``verify`` and ``repair`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "wal",
        help="inspect, verify or repair a mission's write-ahead log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    inspect = actions.add_parser(
        "inspect", help="show segments, snapshot and records (read-only, any record type)"
    )
    _add_path(inspect)
    inspect.add_argument("--json", action="store_true", help="print one JSON document")
    inspect.add_argument(
        "--records", action="store_true", help="also list every record after the snapshot"
    )
    inspect.set_defaults(func=_inspect)

    verify = actions.add_parser(
        "verify", help="check checksums, seq chain and versions; exit 0 if sound, 1 if not"
    )
    _add_path(verify)
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.set_defaults(func=_verify)

    repair = actions.add_parser(
        "repair",
        help="keep the longest valid prefix, move the rest to .broken files (takes the lock)",
    )
    _add_path(repair)
    repair.add_argument("--json", action="store_true", help="print one JSON document")
    repair.set_defaults(func=_repair)


def _add_path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", type=Path, help="log directory or segment file")


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(exc: WalError) -> int:
    print(f"error [{exc.code}]: {exc}", file=sys.stderr)
    return 1


def _inspect(args: argparse.Namespace) -> int:
    try:
        inspection = inspect_log(args.path)
    except WalError as exc:
        return _fail(exc)
    if args.json:
        document = inspection.to_json(with_records=args.records)
        _print_json(document)
    else:
        _print_inspection(inspection, with_records=args.records)
    return 0


def _print_inspection(inspection: LogInspection, *, with_records: bool) -> None:
    scan = inspection.scan
    print(f"log        {inspection.directory}")
    snapshot = "none" if scan.snapshot is None else f"seq {scan.snapshot.seq}"
    print(f"snapshot   {snapshot}")
    print(f"last seq   {scan.next_seq - 1}")
    print()
    print(f"{'segment':<32} {'first':>8} {'last':>8} {'records':>8} {'bytes':>10}  status")
    for s in scan.segments:
        status = "covered by snapshot" if s.covered else "ok"
        if scan.damage is not None and scan.damage.path == s.path:
            status = "torn tail" if scan.damage.at_tail else "CORRUPT"
        last = "-" if s.last_seq is None else str(s.last_seq)
        print(f"{s.path.name:<32} {s.first_seq:>8} {last:>8} {s.records:>8} {s.size:>10}  {status}")
    if scan.damage is not None:
        d = scan.damage
        print(f"\ndamage: {d.path.name} byte {d.offset}: {d.reason}")
    if inspection.missing_segments is not None:
        print(f"\ndamage: {inspection.missing_segments}")
    if with_records:
        print(f"\n{'seq':>8}  {'time (UTC)':<26} {'type':<28} data")
        for r in scan.records:
            when = datetime.fromtimestamp(r.ts, UTC).isoformat(timespec="microseconds")[:26]
            data = orjson.dumps(r.data).decode()
            print(f"{r.seq:>8}  {when:<26} {r.type:<28} {data[:80]}")


def _verify(args: argparse.Namespace) -> int:
    try:
        report = verify_log(args.path)
    except WalError as exc:
        return _fail(exc)
    if args.json:
        document = {
            "directory": str(report.directory),
            "ok": report.ok,
            "last_seq": report.last_seq,
            "problems": report.problems,
        }
        _print_json(document)
    elif report.ok:
        print(f"{report.directory}: sound, last seq {report.last_seq}")
    else:
        print(f"{report.directory}: NOT sound")
        for problem in report.problems:
            print(f"  {problem}")
    return 0 if report.ok else 1


def _repair(args: argparse.Namespace) -> int:
    try:
        report = repair_log(args.path)
    except WalError as exc:
        return _fail(exc)
    if args.json:
        document = {
            "directory": str(report.directory),
            "last_seq": report.last_seq,
            "changed": report.changed,
            "cut": report.cut,
        }
        _print_json(document)
    elif report.changed:
        kept = f"records up to seq {report.last_seq}" if report.last_seq else "no record"
        print(f"{report.directory}: repaired, kept {kept}")
        for line in report.cut:
            print(f"  {line}")
    else:
        print(f"{report.directory}: nothing to repair, last seq {report.last_seq}")
    return 0
