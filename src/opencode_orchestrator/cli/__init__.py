"""The ``opencode-orchestrator`` command line."""

from opencode_orchestrator.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
