"""Basic auth (``OPENCODE_SERVER_PASSWORD``): every route is closed without it."""

from __future__ import annotations

import pytest

from opencode_orchestrator.opencode import OpenCodeAuthError, OpenCodeClient
from tests.contract.conftest import PASSWORD, ContractServer

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]


@pytest.mark.parametrize("password", [None, "wrong"])
async def test_missing_or_wrong_password_is_refused_everywhere(
    secured_server: ContractServer, password: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENCODE_SERVER_PASSWORD", raising=False)
    async with OpenCodeClient(secured_server.base_url, password=password) as client:
        with pytest.raises(OpenCodeAuthError):
            await client.health()
        with pytest.raises(OpenCodeAuthError):
            await client.list_sessions()
        with pytest.raises(OpenCodeAuthError):
            await client.create_session(title="never")


async def test_right_password_from_the_environment_is_used(
    secured_server: ContractServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCODE_SERVER_PASSWORD", PASSWORD)
    async with OpenCodeClient(
        secured_server.base_url, directory=str(secured_server.directory)
    ) as client:
        assert (await client.health()).healthy is True
        session = await client.create_session(title="contract: authenticated")
        assert (await client.get_session(session.id)).id == session.id
