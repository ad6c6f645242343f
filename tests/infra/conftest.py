"""Fixtures: the whole program run once per stack (the runs are shared by every test file)."""

from __future__ import annotations

import pytest

from tests.infra.harness import Run, run


def pytest_configure(config: pytest.Config) -> None:
    # The SDKs warn about their own deprecated resource types while registering modules.
    for module in ("pulumi_aws", "pulumi_eks"):
        config.addinivalue_line("filterwarnings", f"ignore::DeprecationWarning:{module}.*")


@pytest.fixture(scope="session")
def dev() -> Run:
    result = run("dev")
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="session")
def prod() -> Run:
    result = run("prod")
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, dev: Run, prod: Run) -> Run:
    """Each test using this runs against both stacks."""
    return dev if request.param == "dev" else prod
