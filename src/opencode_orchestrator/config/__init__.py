"""One configuration for OpenCode Orchestrator: its schema, its sources and their order.

* :mod:`.schema`: :class:`OrchestratorConfig`, every key documented;
* :mod:`.sources`: files, OpenCode's plugin options, environment, each read into
  a layer that knows where each value sits;
* :mod:`.loader`: the layers stacked in precedence order and validated
  (:func:`load_config`), every value with its origin;
* :mod:`.errors`: :class:`ConfigError` and its codes;
* :mod:`.describe`, :mod:`.reference`: the schema in words (errors, docs);
* :mod:`.jsonc`, :mod:`.opencode_files`: OpenCode's config language and files.
"""

from __future__ import annotations

from opencode_orchestrator.config.errors import (
    ConfigError,
    ConfigFileError,
    ConfigValueError,
    Problem,
)
from opencode_orchestrator.config.loader import (
    Effective,
    dotted,
    flag_layer,
    load_config,
    resolve,
    source_layers,
)
from opencode_orchestrator.config.reference import render_reference
from opencode_orchestrator.config.schema import OrchestratorConfig, WalConfig
from opencode_orchestrator.config.sources import (
    CONTENT_VARIABLE,
    ENVIRONMENT,
    SHIM_OPTION_KEYS,
    KeyPath,
    Layer,
    Origin,
)

__all__ = [
    "CONTENT_VARIABLE",
    "ENVIRONMENT",
    "SHIM_OPTION_KEYS",
    "ConfigError",
    "ConfigFileError",
    "ConfigValueError",
    "Effective",
    "KeyPath",
    "Layer",
    "OrchestratorConfig",
    "Origin",
    "Problem",
    "WalConfig",
    "dotted",
    "flag_layer",
    "load_config",
    "render_reference",
    "resolve",
    "source_layers",
]
