"""The root of every error the package raises on purpose.

Each domain hangs its own tree below this root and documents its codes in its
module docstring::

    OrchestratorError
    ├── ConfigError             opencode_orchestrator.config.errors
    ├── CoreError               opencode_orchestrator.core.errors
    ├── JsonRpcError            opencode_orchestrator.jsonrpc.errors
    ├── MissionError            opencode_orchestrator.mission.errors
    ├── OpenCodeError           opencode_orchestrator.opencode.errors
    └── WalError                opencode_orchestrator.wal.errors

Catching :class:`OrchestratorError` therefore catches every failure we
anticipated, and nothing that is a bug.
"""

from __future__ import annotations

__all__ = ["OrchestratorError"]


class OrchestratorError(Exception):
    """Base class of every error raised deliberately by OpenCode Orchestrator."""
