"""Every e2e cluster shares the session's dockerd.

Started before any module's cluster, so `up` always finds one running and never owns
it: otherwise the first `down` would stop the dockerd every later test relies on.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _shared_dockerd(dockerd: None) -> None:
    """Session-scoped and autouse: set up before any module-scoped cluster fixture."""
