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
  ``opencode serve`` with isolated state, pointed at the fake LLM.
"""
