"""The logging package: JSON on stderr and files, levels, secrets redacted, mission files."""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from pathlib import Path

import anyio
import orjson
import pytest
import structlog
from pydantic import ValidationError

from opencode_orchestrator.log import (
    MISSION_KEY,
    QUEUE_SIZE,
    REDACTED,
    LogSettings,
    configure_logging,
    flush_logging,
    force_verbosity,
    get_logger,
    mission_log,
    redact,
    shutdown_logging,
)
from opencode_orchestrator.log.routing import PrivateRotatingFileHandler


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


@pytest.mark.parametrize(
    "text",
    [
        "bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "BEARER abc123",
        "authorization: basic b3BlbmNvZGU6c2VjcmV0",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_a_credential_after_its_scheme_is_redacted_in_any_case(text: str) -> None:
    assert REDACTED in redact(text)
    assert text.rsplit(maxsplit=1)[-1] not in redact(text)


def test_basic_and_bearer_as_plain_words_are_kept() -> None:
    text = "add basic auth to the bearer tokens page, a basic setup."
    assert redact(text) == text


@pytest.mark.parametrize(
    "key", ["auth", "Auth", "proxy_auth", "private_key", "privateKey", "private-key"]
)
def test_auth_and_private_key_values_are_redacted(key: str) -> None:
    assert redact({key: "hunter2"}) == {key: REDACTED}


def test_token_counts_are_kept_and_token_strings_redacted() -> None:
    counts = {"tokens": 1234, "max_tokens": None, "used_tokens": 12.5, "reserved_tokens": 0}
    assert redact(counts) == counts
    assert redact({"max_tokens": "ghp_abcdef"}) == {"max_tokens": REDACTED}
    assert redact({"token": 1234}) == {"token": REDACTED}  # singular: a credential's key
    assert redact({"tokens": True}) == {"tokens": REDACTED}  # not a count
    assert redact({"author": "x", "oauth_state": "y"}) == {"author": "x", "oauth_state": "y"}


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


def test_the_log_file_and_its_backups_are_private_and_a_shared_directory_is_left_alone(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    created = shared / "logs" / "deeper"
    log_file = created / "core.jsonl"
    old = os.umask(0o022)  # what makes the stdlib's RotatingFileHandler write 0644
    try:
        configure_logging("info", log_file=log_file, max_bytes=4096, backups=2)
        log = get_logger("tests.log")
        for i in range(100):  # ~15 KiB: rotates, two backups kept
            log.info("filler", i=i, padding="x" * 100)
        assert flush_logging()
    finally:
        os.umask(old)
    assert sorted(p.name for p in created.iterdir()) == [
        "core.jsonl",
        "core.jsonl.1",
        "core.jsonl.2",
    ]
    for file in created.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(created.stat().st_mode) == 0o700
    assert stat.S_IMODE(created.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # existing: maybe not ours alone


def test_an_existing_log_file_is_tightened_and_its_directory_kept(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    log_file = tmp_path / "serve.log"
    log_file.write_text("")
    os.chmod(log_file, 0o644)
    configure_logging("info", log_file=log_file)
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_a_log_file_that_cannot_be_opened_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(NotADirectoryError):
        configure_logging("info", log_file=tmp_path / "a-file" / "serve.log")


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
    sys.stderr = stalled  # records go to the sys.stderr of the moment they are written
    try:
        _flood_a_stalled_reader(read_fd)
    finally:
        sys.stderr = original
        stalled.close()
        os.close(read_fd)


def _flood_a_stalled_reader(read_fd: int) -> None:
    configure_logging("info")
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
    events = [orjson.loads(line) for line in b"".join(chunks).splitlines() if line.strip()]
    dropped = [e for e in events if "log records dropped" in str(e["event"])]
    assert dropped, "the drop was not reported"
    assert events[-1]["event"] == "after the stall"
    assert 0 < len([e for e in events if e["event"] == "flood"]) < QUEUE_SIZE * 3


# -- a mission's own file ---------------------------------------------------------------


def _file_lines(path: Path) -> list[dict[str, object]]:
    return _lines(path.read_text())


@pytest.mark.anyio
async def test_two_concurrent_missions_each_get_their_own_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("warning")  # the terminal stays quiet; the files do not
    log = get_logger("tests.log")
    paths = {mid: tmp_path / mid / "mission.log" for mid in ("m-a", "m-b")}
    both_open = {mid: anyio.Event() for mid in paths}

    async def child(mission_id: str) -> None:
        log.info("child.step", of=mission_id)  # a task spawned inside: the binding follows
        logging.getLogger("httpx").info("HTTP Request: GET /session/%s", mission_id)

    async def mission(mission_id: str, other: str) -> None:
        async with mission_log(mission_id, paths[mission_id]):
            log.info("mission.step", of=mission_id)
            both_open[mission_id].set()
            with anyio.fail_after(10):
                await both_open[other].wait()  # both files open at once
            async with anyio.create_task_group() as tg:
                tg.start_soon(child, mission_id)
        log.info("after.mission", of=mission_id)  # unbound again: in no file

    log.info("before.any")
    async with anyio.create_task_group() as tg:
        tg.start_soon(mission, "m-a", "m-b")
        tg.start_soon(mission, "m-b", "m-a")

    for mission_id, path in paths.items():
        records = _file_lines(path)  # complete on exit, without a flush
        assert {r["mission_id"] for r in records} == {mission_id}
        assert [r["event"] for r in records] == [
            "mission.step",
            "child.step",
            f"HTTP Request: GET /session/{mission_id}",
        ]
        assert all(r.get("of", mission_id) == mission_id for r in records)
    assert flush_logging()
    assert _lines(capsys.readouterr().err) == []  # info is below stderr's warning


@pytest.mark.anyio
async def test_the_file_has_its_own_level_and_a_resumed_mission_appends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("error")
    log = get_logger("tests.log")
    path = tmp_path / "m1" / "mission.log"
    async with mission_log("m1", path):
        log.debug("hidden")
        log.info("first run")
        log.error("shown everywhere")
    async with mission_log("m1", path, LogSettings(level="debug")):
        log.debug("second run, in detail")
    assert [r["event"] for r in _file_lines(path)] == [
        "first run",
        "shown everywhere",
        "second run, in detail",
    ]
    assert flush_logging()
    assert [r["event"] for r in _lines(capsys.readouterr().err)] == ["shown everywhere"]


@pytest.mark.anyio
async def test_the_file_rotates_at_its_size_bound(tmp_path: Path) -> None:
    configure_logging("warning")
    log = get_logger("tests.log")
    path = tmp_path / "m1" / "mission.log"
    settings = LogSettings(max_bytes=64 * 1024, backups=2)
    async with mission_log("m1", path, settings):
        for i in range(1200):  # ~300 KiB: rotates four times, two backups kept
            log.info("filler", i=i, padding="x" * 200)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["mission.log", "mission.log.1", "mission.log.2"]
    for file in path.parent.iterdir():
        assert 0 < file.stat().st_size <= settings.max_bytes
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert _file_lines(path)[-1]["i"] == 1199  # the newest lines are in mission.log


@pytest.mark.anyio
async def test_the_file_and_its_directories_are_private_whatever_the_umask(
    tmp_path: Path,
) -> None:
    configure_logging("warning")
    path = tmp_path / "missions" / "m1" / "mission.log"
    old = os.umask(0)
    try:
        async with mission_log("m1", path):
            get_logger("tests.log").info("hello")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


@pytest.mark.anyio
async def test_secrets_are_redacted_in_the_file(tmp_path: Path) -> None:
    configure_logging("warning")
    path = tmp_path / "m1" / "mission.log"
    async with mission_log("m1", path):
        get_logger("tests.log").info(
            "call", password="hunter2", headers={"Authorization": "Basic b3BlbmNvZGU6c2VjcmV0"}
        )
        logging.getLogger("httpx").info("sending Bearer abc.def.ghi")
        get_logger("tests.log").info("usage", tokens=1234)  # a count, not a credential
    text = path.read_text()
    assert "hunter2" not in text
    assert "b3BlbmNvZGU6c2VjcmV0" not in text
    assert "abc.def.ghi" not in text
    records = _file_lines(path)
    assert records[0]["password"] == REDACTED
    assert records[0]["headers"] == {"Authorization": REDACTED}
    assert records[1]["event"] == f"sending {REDACTED}"
    assert records[2]["tokens"] == 1234


@pytest.mark.anyio
async def test_the_file_is_written_on_the_listener_thread_never_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: set[int] = set()
    emit = PrivateRotatingFileHandler.emit

    def spying_emit(self: PrivateRotatingFileHandler, record: logging.LogRecord) -> None:
        writers.add(threading.get_ident())
        emit(self, record)

    monkeypatch.setattr(PrivateRotatingFileHandler, "emit", spying_emit)
    configure_logging("warning")
    loop_thread = threading.get_ident()
    path = tmp_path / "m1" / "mission.log"
    async with mission_log("m1", path):
        for i in range(50):
            get_logger("tests.log").info("step", i=i)
    assert len(_file_lines(path)) == 50
    assert len(writers) == 1
    assert loop_thread not in writers


@pytest.mark.anyio
async def test_without_configured_logging_only_the_id_is_bound(tmp_path: Path) -> None:
    path = tmp_path / "m1" / "mission.log"
    async with mission_log("m1", path):
        assert structlog.contextvars.get_contextvars()[MISSION_KEY] == "m1"
    assert MISSION_KEY not in structlog.contextvars.get_contextvars()
    assert not path.parent.exists()


def test_force_verbosity_wins_over_a_command_that_configures_its_own_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    force_verbosity("info")  # what `-v` does before the command runs
    configure_logging("error")  # what `demo` does to keep its screen clean
    get_logger("tests.log").info("still shown")
    assert flush_logging()
    assert [r["event"] for r in _lines(capsys.readouterr().err)] == ["still shown"]
    shutdown_logging()  # forgets the forced level
    configure_logging("error")
    get_logger("tests.log").info("hidden")
    assert flush_logging()
    assert _lines(capsys.readouterr().err) == []


def test_log_settings_refuse_a_file_that_would_never_rotate() -> None:
    with pytest.raises(ValidationError):
        LogSettings(backups=0)
    with pytest.raises(ValidationError):
        LogSettings(max_bytes=10)
    with pytest.raises(ValidationError):
        LogSettings(level="loud")  # type: ignore[arg-type]
    assert LogSettings() == LogSettings(level="info", max_bytes=10 * 1024 * 1024, backups=5)


@pytest.mark.anyio
async def test_a_line_reaches_the_file_once_the_listener_is_idle_without_a_flush(
    tmp_path: Path,
) -> None:
    # Lines are not flushed one by one any more: the listener flushes when it
    # has caught up, so nothing waits in a buffer while the mission is quiet.
    configure_logging("warning")
    path = tmp_path / "m1" / "mission.log"
    async with mission_log("m1", path):
        get_logger("tests.log").info("quiet", n=1)
        with anyio.fail_after(5):
            while not (path.exists() and path.read_text().endswith("\n")):
                await anyio.sleep(0.01)
        assert _file_lines(path)[-1]["event"] == "quiet"


def test_the_timestamp_is_when_the_record_was_made_not_when_it_is_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("info")
    log = get_logger("tests.log")
    with monkeypatch.context() as patched:
        patched.setattr(time, "time", lambda: 1_000_000_000.25)
        log.info("made")
        logging.getLogger("httpx").warning("foreign")
    assert flush_logging()
    stamps = [r["timestamp"] for r in _lines(capsys.readouterr().err)[-2:]]
    assert stamps == ["2001-09-09T01:46:40.250000Z"] * 2


def test_a_logger_is_assembled_once_and_follows_every_later_configure() -> None:
    made: list[structlog.ReturnLogger] = []

    def factory(*_args: object) -> structlog.ReturnLogger:
        made.append(structlog.ReturnLogger())
        return made[-1]

    log = get_logger("tests.follow")
    structlog.configure(processors=[], logger_factory=factory)
    assert log.info("one") == ((), {"event": "one"})
    assert log.info("two") == ((), {"event": "two"})
    assert len(made) == 1  # assembled once, not per call
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    assert log.info("three") is None  # filtered: the new wrapper class is used
    assert log.warning("four") == ((), {"event": "four"})
    assert len(made) == 2
    structlog.reset_defaults()
    with structlog.testing.capture_logs() as captured:
        log.info("five")
    assert [e["event"] for e in captured] == ["five"]
