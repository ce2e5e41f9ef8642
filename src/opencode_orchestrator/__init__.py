"""OpenCode Orchestrator: a multi-agent mission runner for OpenCode, run by code.

The package is layered; each layer knows only the one below it::

    jsonrpc   wire models -> framing transport -> dispatcher -> typed endpoint
    wal       record codec -> segments -> write-ahead log -> inspection tools
    core      the JSON-RPC server the OpenCode plugin shim talks to
    cli       the ``opencode-orchestrator`` command

Every domain has one error root, all of them rooted in :class:`OrchestratorError`.
"""

from opencode_orchestrator.errors import OrchestratorError

__version__ = "0.1.0"

__all__ = ["OrchestratorError", "__version__"]
