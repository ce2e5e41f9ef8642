"""Child sessions: created once per (unit, role, attempt), journaled, findable by title.

A session OpenCode no longer has (a 404 on a prompt: deleted by the user, or
OpenCode's data lost) is replaced by a new one, journaled the same way.

Every session the mission creates is a child of the mission's session, titled
``mission <id> · unit <unit> · <role> · attempt <n>``, so the user can find it
in OpenCode. Creating a session is not idempotent on the server, so the record
is written right after creation and a resumed mission reuses what it finds in
the journal; a crash between the two leaves at most one empty, idle session.
"""

from __future__ import annotations

from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.model import UnitModel
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.transient import ride_out

__all__ = ["ensure_session", "session_title"]


def session_title(mission_id: str, unit: str | None, role: str, attempt: int) -> str:
    """The title that names a child session's mission, unit, role and attempt."""
    where = f"unit {unit}" if unit is not None else "mission"
    return f"mission {mission_id[:8]} · {where} · {role} · attempt {attempt}"


async def ensure_session(
    ctx: MissionContext, unit: UnitModel | None, role: str, attempt: int
) -> str:
    """The session of ``role`` for ``unit``'s ``attempt``, created and journaled if new."""
    model = ctx.model
    gone = ctx.gone_sessions
    if unit is not None:
        existing = unit.sessions.get(role)
        if (
            existing is not None
            and existing not in gone
            and model.sessions[existing].get("attempt") == attempt
        ):
            return existing
    else:
        found = [
            sid
            for sid, info in model.sessions.items()
            if info.get("unit") is None and info["role"] == role and info["attempt"] == attempt
        ]
        if found and found[-1] not in gone:  # the newest: it replaced any found gone
            return found[-1]
    directory = unit.directory if unit is not None else None
    client, _ = ctx.client_for(directory)
    title = session_title(model.mission_id, unit.id if unit else None, role, attempt)
    # Not idempotent: a retry after an error that came after the server made the
    # session leaves one empty, idle session behind, which is harmless.
    rules = ctx.config.session_permissions or None
    # A child of a deleted mission session is made all the same (OpenCode 1.18.33 takes
    # any parentID): a mission whose session the user deleted goes on.
    session = await ride_out(
        lambda: client.create_session(
            parent_id=model.parent_session, title=title, permission=rules
        ),
        what="create_session",
        patience=ctx.config.timeouts.server_patience,
    )
    await ctx.journal.write(
        RecordType.SESSION_CREATED,
        {
            "session": session.id,
            "role": role,
            "unit": unit.id if unit is not None else None,
            "attempt": attempt,
            "directory": directory,
        },
        # The session's first turn.intent, durable, carries it; lost in a crash,
        # a new session is made (an empty one is left behind, as on a retry).
        durable=False,
    )
    return session.id
