"""Property: any sequence of appends, snapshots and reopens replays like a list model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencode_orchestrator import runtime
from tests.wal.helpers import open_wal

_payload = st.dictionaries(
    st.text(max_size=5),
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=10), st.booleans()),
    max_size=3,
)
_step = st.one_of(
    st.tuples(st.just("append"), _payload),
    st.tuples(st.just("snapshot"), st.none()),
    st.tuples(st.just("reopen"), st.none()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(_step, max_size=30), segment_max_bytes=st.sampled_from([120, 400, 1 << 20]))
def test_log_matches_model(steps: list[tuple[str, Any]], segment_max_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as raw:
        runtime.run(_check, Path(raw) / "wal", steps, segment_max_bytes)


async def _check(directory: Path, steps: list[tuple[str, Any]], segment_max_bytes: int) -> None:
    model: list[dict[str, Any]] = []
    wal = await open_wal(directory, segment_max_bytes=segment_max_bytes)
    try:
        for action, payload in steps:
            if action == "append":
                record = await wal.append("t", payload)
                model.append(payload)
                assert record.seq == len(model)
            elif action == "snapshot":
                await wal.snapshot({"items": list(model)})
            else:
                await wal.close()
                wal = await open_wal(directory, segment_max_bytes=segment_max_bytes)
                state = wal.recovery.snapshot_state or {"items": []}
                replayed = state["items"] + [r.data for r in wal.recovery.records]
                assert replayed == model
                assert [r.seq for r in wal.recovery.records] == list(
                    range(wal.recovery.snapshot_seq + 1, len(model) + 1)
                )
    finally:
        await wal.close()
