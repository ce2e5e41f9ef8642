"""The logging module: JSON on stderr and file, levels, secrets redacted."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from opencode_orchestrator.log import REDACTED, configure_logging, get_logger, redact


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
    for handler in logging.getLogger().handlers:
        handler.flush()

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
    records = _lines(capsys.readouterr().err)
    assert records[-1]["event"] == f"sending Authorization: {REDACTED}"
    assert records[-1]["level"] == "info"


def test_exception_tracebacks_are_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("tests.log").exception("handler failed")
    record = _lines(capsys.readouterr().err)[-1]
    assert record["level"] == "error"
    assert "RuntimeError: boom" in str(record["exception"])


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging("loud")
