"""Events out of the hub: framed when emitted, delivered once what they describe is on disk.

Every event is serialised when it is emitted (the documents it carries may
change right after) and delivered to the streams that listen at that moment.
If writes are queued, it waits for their commit with every other event
emitted meanwhile, in order, so a client never reads about what is not
stored yet; with nothing queued it goes out at once.
"""

from __future__ import annotations

import orjson

from opencode_orchestrator.sim.engine.bus import Deliveries, EventBus, deliver
from opencode_orchestrator.sim.engine.projects import ProjectIds
from opencode_orchestrator.sim.ids import IdKind, new_id
from opencode_orchestrator.sim.state.records import Json
from opencode_orchestrator.sim.state.store import SimStore

__all__ = ["Publisher"]


class Publisher:
    """Publishes the hub's events on ``bus`` in step with ``store``'s commits."""

    def __init__(self, bus: EventBus, store: SimStore, projects: ProjectIds) -> None:
        self._bus = bus
        self._store = store
        self._projects = projects
        self._staged: list[Deliveries] = []
        """Events waiting for the next commit, in the order they were emitted."""

    def emit(self, directory: str, kind: str, properties: Json) -> None:
        """Publish an event for ``directory`` (once the writes queued before it are committed)."""
        self.publish(
            directory, {"id": new_id(IdKind.EVENT), "type": kind, "properties": properties}
        )

    def publish(self, directory: str, envelope: Json) -> None:
        """Publish ``envelope`` as it is now, once the writes queued before it are committed."""
        deliveries = self._bus.prepare(directory, envelope, self._projects.known(directory))
        if deliveries is not None:
            self._deliver(deliveries)

    def emit_stored(
        self,
        directory: str,
        kind: bytes,
        session_id: str,
        *,
        key: bytes,
        document: bytes,
        rest: bytes = b"",
    ) -> None:
        """Publish ``{sessionID, <key>: document, ...rest}``, the document as the store has it.

        A stored message, part or session is serialised once, for the store
        and the event, instead of twice. The bytes are those ``emit`` makes.
        """
        if not self._bus.listens(directory):
            return
        payload = b"".join(
            (
                b'{"id":"',
                new_id(IdKind.EVENT).encode(),
                b'","type":"',
                kind,
                b'","properties":{"sessionID":',
                orjson.dumps(session_id),
                b',"',
                key,
                b'":',
                document,
                rest,
                b"}}",
            )
        )
        project = self._projects.known(directory)
        self._deliver(self._bus.prepare_payload(directory, payload, project))

    def _deliver(self, deliveries: Deliveries) -> None:
        # Events queued behind uncommitted writes wait for the commit, all
        # released by one action; the first of them asks for it.
        staged = self._staged
        if staged:
            staged.append(deliveries)
        elif self._store.pending:
            staged.append(deliveries)
            self._store.after_writes(self._release)
        else:
            deliver(deliveries)

    def _release(self) -> None:
        staged, self._staged = self._staged, []
        for deliveries in staged:
            deliver(deliveries)
