"""The planner's DAGs: chain, wide fan-out, layered diamond and seeded random."""

from __future__ import annotations

import itertools
import random

from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.sim.config import PlannerConfig, PlanShape

__all__ = ["build_units"]


def _ids(count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"u{n:0{width}d}" for n in range(1, count + 1)]


def _edges(config: PlannerConfig, ids: list[str], rng: random.Random) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {uid: [] for uid in ids}
    if config.shape is PlanShape.CHAIN:
        for prev, uid in itertools.pairwise(ids):
            deps[uid] = [prev]
    elif config.shape is PlanShape.FAN_OUT:
        for uid in ids[1:]:
            deps[uid] = [ids[0]]
    elif config.shape is PlanShape.DIAMOND:
        # One root, layers of `width` each depending on all of the layer before, one sink.
        layers: list[list[str]] = [ids[:1]]
        middle, sink = ids[1:-1], ids[-1:] if len(ids) > 1 else []
        layers.extend(
            middle[start : start + config.width] for start in range(0, len(middle), config.width)
        )
        if sink:
            layers.append(sink)
        for before, layer in itertools.pairwise(layers):
            for uid in layer:
                deps[uid] = list(before)
    else:
        for index, uid in enumerate(ids):
            deps[uid] = [ids[j] for j in range(index) if rng.random() < config.edge_probability]
    return deps


def build_units(config: PlannerConfig, goal: str, rng: random.Random) -> list[UnitSpec]:
    """``config.units`` units in ``config.shape``, each with its own (disjoint) file scope.

    Every unit also has ``config.shared_files`` in its scope, ``config.unit_checks``
    as its checks (``{unit}`` naming it), and its race width from ``config.race``.
    """
    ids = _ids(config.units)
    deps = _edges(config, ids, rng)
    words = [w for w in goal.split() if w.isalnum()][:6] or ["the", "goal"]
    return [
        UnitSpec(
            id=uid,
            title=f"{uid}: {' '.join(words)} (part {n})",
            description=f"Simulated unit {n} of {len(ids)} for: {goal[:200]}",
            files=[
                *(f"src/{uid}/mod{k}.py" for k in range(1, config.files_per_unit + 1)),
                *config.shared_files,
            ],
            depends_on=deps[uid],
            checks=[command.replace("{unit}", uid) for command in config.unit_checks],
            race=config.race.get(uid, 1),
        )
        for n, uid in enumerate(ids, start=1)
    ]
