"""``OpenCodeClient``'s calls beyond lifecycle and sessions, grouped as mixins.

Layers, each knowing only the ones below::

    base        ClientCallsBase (the ``http`` the mixins send through), wire helpers
    messages    MessageCalls: prompts, messages, shell and slash commands
    project     ProjectCalls: todos, diffs, permissions, toasts, worktrees
"""

from opencode_orchestrator.opencode.calls.base import ClientCallsBase
from opencode_orchestrator.opencode.calls.messages import MessageCalls, PromptParts
from opencode_orchestrator.opencode.calls.project import ProjectCalls

__all__ = ["ClientCallsBase", "MessageCalls", "ProjectCalls", "PromptParts"]
