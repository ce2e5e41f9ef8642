"""Test and demo support that ships with the package.

Nothing here is used by the core at run time. It is public so that the test
suite, the benchmarks, the demo and the end-to-end tests drive OpenCode (real
or simulated) the same way:

- :mod:`~opencode_orchestrator.testing.script`: the ``@script`` directive a
  prompt carries to say how the (fake) model should answer it;
- :mod:`~opencode_orchestrator.testing.fake_llm`: an OpenAI-compatible endpoint
  on 127.0.0.1 that a real ``opencode serve`` uses as its provider;
- :mod:`~opencode_orchestrator.testing.fake_llm_turns`: how the fake LLM
  decides each answer, and the OpenAI wire bodies it sends;
- :mod:`~opencode_orchestrator.testing.real_opencode`: starts a real
  ``opencode serve`` with isolated state, pointed at the fake LLM;
- :mod:`~opencode_orchestrator.testing.scenario`,
  :mod:`~opencode_orchestrator.testing.scenario_roles`,
  :mod:`~opencode_orchestrator.testing.scenario_turns`,
  :mod:`~opencode_orchestrator.testing.scenario_player`: the fake LLM's
  scenario mode, playing a mission's planner, workers and reviewers;
- :mod:`~opencode_orchestrator.testing.mission_e2e`: the end-to-end world
  (scenario fake LLM + real OpenCode + a git project) and its read-backs.
"""
