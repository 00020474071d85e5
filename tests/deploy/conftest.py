"""Renderings of the Helm chart shared by the deployment checks (rendered once per session)."""

from __future__ import annotations

import pytest

from tests.deploy.deploy_support import Rendered, ci_values, render


@pytest.fixture(scope="session")
def rendered_default() -> Rendered:
    """The chart's values.yaml with only what an install must set (ci/minimal-values.yaml)."""
    return render(ci_values("minimal-values.yaml"))


@pytest.fixture(scope="session")
def rendered_all() -> Rendered:
    """Every optional part on (ci/all-enabled-values.yaml)."""
    return render(ci_values("all-enabled-values.yaml"))


@pytest.fixture(scope="session")
def rendered_single() -> Rendered:
    """One Deployment for all vendors, an HPA, existing Secrets (ci/single-hpa-values.yaml)."""
    return render(ci_values("single-hpa-values.yaml"))
