"""One mission this core runs: its engine, and what its journal tells the core as it goes.

The core hears of a mission's progress from its journal: every record the
engine writes passes :func:`observe_journal`'s hook right after it is durable
and applied, before the engine acts on it. That is where ``session.created``
files a session for ``scope/check``, and where every record feeds the
mission's narrator (phases, failed units, the periodic progress post, the
ledger of each unit's figures: :mod:`.narration`). A hook that fails is logged
and never reaches the engine.

Once the engine's run returns in a final state (sealed, failed, blocked,
budget exceeded, cancelled), the mission's task writes its report
(``report.json``, ``report.md``, ``report.html``: :func:`write_mission_report`,
replayed in a worker thread), then tells the end, so the notification of the
end can say where the report is. A report that cannot be written is logged;
the mission's end stands. A mission found ended without its report (the core
stopped in between) gets it when it is next looked for
(:func:`report_if_missing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.report import REPORT_HTML, write_report
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import mission_dir

__all__ = [
    "RecordHook",
    "RunningMission",
    "observe_journal",
    "report_if_missing",
    "write_mission_report",
]

_log = get_logger(__name__)

RecordHook = Callable[[str, dict[str, Any]], None]
"""Called with a record's type and payload once it is durable and applied."""


@dataclass(eq=False, slots=True)
class RunningMission:
    """A mission of this core: reserved while its journal opens, then running until ``done``."""

    mission_id: str
    project: Path
    engine: MissionEngine | None = None
    """Set once the journal is open (before that, the mission is only reserved)."""
    done: anyio.Event = field(default_factory=anyio.Event)
    """Set when its task ended, however it ended (its journal is closed by then)."""
    error: str | None = None
    """Why its run stopped before a final state, if an error stopped it."""

    @property
    def model(self) -> MissionModel | None:
        """The engine's in-memory model (``None`` while the journal opens)."""
        return self.engine.ctx.model if self.engine is not None else None

    @property
    def state(self) -> MissionState | None:
        """Where the mission is, as far as this core knows."""
        model = self.model
        return model.state if model is not None else None


def observe_journal(engine: MissionEngine, hook: RecordHook) -> None:
    """Call ``hook`` after every record ``engine`` writes from now on.

    The engine reaches its journal only through ``journal.write``; an instance
    attribute shadows the method, so the engine's code stays as it is.
    """
    journal = engine.ctx.journal
    write = journal.write

    async def observed(
        record_type: RecordType, data: dict[str, Any], *, durable: bool = True
    ) -> None:
        await write(record_type, data, durable=durable)
        try:
            hook(record_type.value, data)
        except Exception:  # noqa: BLE001 - an observer's bug must not stop the mission
            _log.exception("mission.observer.failed", record=record_type.value)

    setattr(journal, "write", observed)  # noqa: B010 - shadows the method on this instance


async def write_mission_report(project: Path, mission_id: str) -> Path | None:
    """Write the mission's report; its ``report.html``, or ``None`` if it could not be written.

    A failure is logged, never raised: the mission ended whatever happens to its report.
    """
    try:
        paths = await write_report(mission_dir(project, mission_id))
    except Exception:  # noqa: BLE001 - the mission ended whatever happens to its report
        _log.exception("mission.report.failed", mission=mission_id)
        return None
    _log.info("mission.report.written", mission=mission_id, html=str(paths.html))
    return paths.html


async def report_if_missing(project: Path, mission_id: str) -> None:
    """Write the report of an ended mission that has none (the core stopped before it)."""
    html = mission_dir(project, mission_id) / REPORT_HTML
    if not await anyio.to_thread.run_sync(html.exists):
        _log.info("mission.report.missing", mission=mission_id)
        await write_mission_report(project, mission_id)
