"""Fixtures: the whole program run once per stack (the runs are shared by every test file),
and moto's STS for the make targets run with fake CLIs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.servers import MotoServer
from tests.infra.fake_cli import moto_credentials
from tests.infra.harness import Run, run
from tests.infra.lookup import PUBLIC_APP
from tests.stacks import STACKS


def pytest_configure(config: pytest.Config) -> None:
    # The SDKs warn about their own deprecated resource types while registering modules.
    for module in ("pulumi_aws", "pulumi_eks"):
        config.addinivalue_line("filterwarnings", f"ignore::DeprecationWarning:{module}.*")


_RUNS: dict[str, Run] = {}


def stack_run(name: str) -> Run:
    """The program run once per stack and test process."""
    if name not in _RUNS:
        result = run(name)
        assert result.error is None, result.error
        _RUNS[name] = result
    return _RUNS[name]


@pytest.fixture(scope="session")
def dev() -> Run:
    return stack_run("dev")


@pytest.fixture(scope="session")
def prod() -> Run:
    return stack_run("prod")


@pytest.fixture(scope="session", params=STACKS)
def stack(request: pytest.FixtureRequest) -> Run:
    """Each test using this runs against every stack (one per Pulumi.<stack>.yaml)."""
    return stack_run(request.param)


@pytest.fixture(scope="session")
def public() -> Run:
    """dev with the app public: the load balancer controller, the NLB and its policies."""
    result = run("dev", PUBLIC_APP)
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def moto_sts() -> Iterator[MotoServer]:
    """moto's server, for the make targets' AWS credentials check (tests with fake CLIs)."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def creds(moto_sts: MotoServer) -> dict[str, str]:
    return moto_credentials(moto_sts.endpoint)
