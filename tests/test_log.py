"""The logging module: JSON on stderr and file, levels, secrets redacted."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import orjson
import pytest

from opencode_orchestrator.log import (
    QUEUE_SIZE,
    REDACTED,
    configure_logging,
    flush_logging,
    get_logger,
    redact,
    shutdown_logging,
)


def _lines(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_redact_nested_keys_and_credential_values() -> None:
    event = {
        "headers": {"Authorization": "Basic b3BlbmNvZGU6c2VjcmV0", "accept": "json"},
        "params": {"password": "hunter2", "serverUrl": "http://127.0.0.1:4096"},
        "api_key": "sk-live-123456789",
        "items": [{"token": "t"}, "Bearer abc.def.ghi"],
        "note": "the key is sk-abcdefghijkl, keep it safe",
        "count": 3,
    }
    out = redact(event)
    assert out["headers"] == {"Authorization": REDACTED, "accept": "json"}
    assert out["params"] == {"password": REDACTED, "serverUrl": "http://127.0.0.1:4096"}
    assert out["api_key"] == REDACTED
    assert out["items"] == [{"token": REDACTED}, REDACTED]
    assert out["note"] == f"the key is {REDACTED}, keep it safe"
    assert out["count"] == 3


def test_json_lines_on_stderr_and_file_with_levels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "logs" / "core.jsonl"
    configure_logging("info", log_file=log_file)
    log = get_logger("tests.log")
    log.debug("hidden")
    log.info("started", password="hunter2", directory="/p")
    log.warning("slow", seconds=1.5)
    assert flush_logging()

    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is the JSON-RPC wire: never a log line
    records = _lines(captured.err)
    assert [r["event"] for r in records] == ["started", "slow"]
    assert records[0]["level"] == "info"
    assert records[0]["password"] == REDACTED
    assert records[0]["directory"] == "/p"
    assert records[1]["level"] == "warning"
    assert "timestamp" in records[0]
    assert _lines(log_file.read_text()) == records


def test_stdlib_records_are_rendered_and_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug")
    logging.getLogger("httpx").info("sending Authorization: Bearer abc123")
    assert flush_logging()
    records = _lines(capsys.readouterr().err)
    assert records[-1]["event"] == f"sending Authorization: {REDACTED}"
    assert records[-1]["level"] == "info"


def test_exception_tracebacks_are_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("tests.log").exception("handler failed")
    assert flush_logging()
    record = _lines(capsys.readouterr().err)[-1]
    assert record["level"] == "error"
    assert "RuntimeError: boom" in str(record["exception"])


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging("loud")


def test_a_stalled_log_reader_never_blocks_the_caller(tmp_path: Path) -> None:
    # A reader that stops draining stderr (a stuck shim) must not freeze the
    # core: records beyond the queue are dropped and counted, then reported.
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, True)
    stalled = os.fdopen(write_fd, "w", buffering=1)
    original = sys.stderr
    sys.stderr = stalled
    try:
        configure_logging("info")
    finally:
        sys.stderr = original
    log = get_logger("tests.log")
    done = threading.Event()

    def flood() -> None:
        for i in range(QUEUE_SIZE * 3):
            log.info("flood", i=i, padding="x" * 200)
        done.set()

    threading.Thread(target=flood, daemon=True).start()
    # Nobody reads the pipe: the listener blocks once it is full (64 KiB), the
    # queue fills, and the logging calls still all return.
    assert done.wait(30), "logging blocked on a stalled stderr"
    assert not flush_logging(timeout=0.2)

    # Drain the pipe: what was queued gets written, then the drop report.
    os.set_blocking(read_fd, False)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(read_fd, 1 << 16)
            except BlockingIOError:
                if done_draining.is_set():
                    return
                done_draining.wait(0.01)
                continue
            if not chunk:
                return
            chunks.append(chunk)

    done_draining = threading.Event()
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert flush_logging(timeout=30)  # the backlog is written once stderr drains
    log.info("after the stall")  # finds room: the drop count goes out first
    assert flush_logging(timeout=30)
    done_draining.set()
    reader.join(10)
    shutdown_logging()
    stalled.close()
    os.close(read_fd)
    events = [orjson.loads(line) for line in b"".join(chunks).splitlines() if line.strip()]
    dropped = [e for e in events if "log records dropped" in str(e["event"])]
    assert dropped, "the drop was not reported"
    assert events[-1]["event"] == "after the stall"
    assert 0 < len([e for e in events if e["event"] == "flood"]) < QUEUE_SIZE * 3
