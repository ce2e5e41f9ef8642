"""Allow ``python -m opencode_orchestrator``."""

from opencode_orchestrator.cli.main import main

raise SystemExit(main())
