"""`minikube-py token create|list|delete` against a real api-server, as an operator runs
them on the control plane (the console script, the admin kubeconfig)."""

from __future__ import annotations

import subprocess
import time

from minikube_py.cluster import tokens
from tests.fixtures.apiserver import CLI, ApiServer, as_user


def _token(apiserver: ApiServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), "token", *args, "--kubeconfig", str(apiserver.kubeconfig)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_tokens_are_created_listed_and_deleted(apiserver: ApiServer) -> None:
    made = _token(apiserver, "create", "--ttl", "2h", "--description", "rack 4",
                  "--server", apiserver.url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    token_id, _ = tokens.parse_token(token)
    assert as_user(apiserver, token, "GET", "/api")[0] in (200, 403)  # it authenticates

    listed = _token(apiserver, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA",
                                "GROUPS"]
    row = next(line for line in lines if line.startswith(token))
    cells = row.split("   ")
    assert [c.strip() for c in cells if c.strip()][1:] == [
        "1h", cells[2].strip(), "authentication,signing", "rack 4", tokens.EXTRA_GROUPS]
    assert lines[0].index("TTL") == row.index(" 1h ") + 1  # aligned (a token may start "1h")

    gone = _token(apiserver, "delete", token_id)
    assert gone.returncode == 0 and gone.stdout == f'bootstrap token "{token_id}" deleted\n'
    assert token not in _token(apiserver, "list").stdout
    deadline = time.monotonic() + 3  # once the api-server's watch sees the deletion
    while as_user(apiserver, token, "GET", "/api")[0] != 401:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    again = _token(apiserver, "delete", token)
    assert again.returncode == 1 and f'bootstrap token "{token_id}" not found' in again.stderr
    bad = _token(apiserver, "delete", "ABC")
    assert bad.returncode == 1 and "didn't match pattern" in bad.stderr


def test_without_cluster_info_or_server_no_token_is_made(apiserver: ApiServer) -> None:
    apiserver.request("DELETE", "/api/v1/namespaces/kube-public/configmaps/cluster-info")
    def listed() -> set[str]:
        return {line.split()[0] for line in _token(apiserver, "list").stdout.splitlines()}

    before = listed()
    made = _token(apiserver, "create")
    assert made.returncode == 1 and made.stdout == ""
    assert made.stderr.startswith("error: no kube-public/cluster-info"), made.stderr
    assert listed() == before  # none made that nobody was told
