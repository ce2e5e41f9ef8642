"""``run``/``resume --server URL``: credentials written in the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

from opencode_orchestrator.cli import main
from opencode_orchestrator.cli.mission import server_credentials
from opencode_orchestrator.sim import SimServer
from tests.mission.enginesupport import sim_config


def test_a_run_over_a_url_with_credentials_logs_in_with_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The URL's credentials used to reach the HTTP client as they were, which
    # refuses them beside its own Authorization header: a raw traceback.
    project = tmp_path / "project"
    project.mkdir()
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(
            SimServer.running(
                tmp_path / "sim", config=sim_config(planner={"units": 1}), password="s3cr%t"
            )
        ) as sim,
    ):
        url = sim.base_url.replace("http://", "http://opencode:s3cr%25t@")
        code = main(["run", "add a feature", "--server", url, "--project", str(project)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    assert "s3cr" not in out + err  # the password is never echoed (the resume hint)


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        ("http://127.0.0.1:4096", None, ("http://127.0.0.1:4096", None)),
        ("http://127.0.0.1:4096", "pw", ("http://127.0.0.1:4096", "pw")),
        ("http://opencode:pw@127.0.0.1:4096/", None, ("http://127.0.0.1:4096/", "pw")),
        ("http://:p%40ss@[::1]:4096", None, ("http://[::1]:4096", "p@ss")),
        ("http://opencode@host:4096", "pw", ("http://host:4096", "pw")),
        ("http://opencode:pw@host", "pw", ("http://host", "pw")),  # said twice, the same
    ],
)
def test_credentials_leave_the_url_for_the_client(
    url: str, password: str | None, expected: tuple[str, str | None]
) -> None:
    assert server_credentials(url, password) == expected


@pytest.mark.parametrize(
    ("url", "password", "message"),
    [
        ("http://bob:pw@h:1", None, "user 'bob' in the URL: the client logs in as 'opencode'"),
        ("http://opencode:pw@host:4096", "other", "the URL's password and --password differ"),
    ],
)
def test_credentials_the_client_cannot_use_are_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    url: str,
    password: str | None,
    message: str,
) -> None:
    argv = ["run", "goal", "--server", url, "--project", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, *(["--password", password] if password else [])])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"opencode-orchestrator run: error: --server: {message}" in err
    assert not (tmp_path / ".opencode").exists()  # nothing was started


def test_cancel_refuses_a_url_naming_another_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["cancel", "m1", "--server", "http://bob:pw@127.0.0.1:1", "--project", str(tmp_path)])
    assert caught.value.code == 2
    assert "--server: user 'bob' in the URL" in capsys.readouterr().err
