"""Partial syncs end where a full sync would: random changes, each applied by a
partial sync to a model of iptables-restore, compared after every step with a
fresh proxy's full sync of the same inputs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import shlex
from collections.abc import Callable
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings
from cni_plugins.iptables_runner import Backend
from tests.fixtures.fake_iptables import collecting

BUILTIN = {"nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
           "filter": ("INPUT", "FORWARD", "OUTPUT")}
TARGETS = {"REJECT", "DNAT", "MARK", "MASQUERADE", "RETURN", "ACCEPT", "DROP"}


class RestoreError(Exception):
    pass


class FakeKernel:
    """iptables-restore --noflush semantics on table -> chain -> rules, atomic per table."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[str]]] = {
            t: {c: [] for c in chains} for t, chains in BUILTIN.items()}

    async def save(self, table: str | None = None) -> str:
        out = []
        for name, chains in self.tables.items():
            if table in (None, name):
                out += [f"*{name}", *(f":{c} - [0:0]" for c in chains)]
                out += [f"-A {c} {r}" for c, rules in chains.items() for r in rules]
                out.append("COMMIT")
        return "\n".join(out) + "\n"

    async def restore(self, text: str) -> None:
        self.apply(text)

    def restoring(self) -> contextlib.AbstractContextManager[Callable[[str], None]]:
        return collecting(self.apply)

    def apply(self, text: str) -> None:
        staged = copy.deepcopy(self.tables)
        table: dict[str, list[str]] = {}
        for line in text.splitlines():
            if line.startswith("*"):
                table = staged[line[1:]]
            elif line.startswith(":"):
                table[line[1:].split()[0]] = []
            elif line == "COMMIT":
                self._check(table)
            else:
                op, chain, rule = line.split(" ", 2) if line.count(" ") >= 2 else (
                    *line.split(" ", 1), "")
                if chain not in table:
                    raise RestoreError(f"no chain {chain}: {line}")
                _, _, jump = f" {rule}".partition(" -j ")
                target = jump.split(" ", 1)[0]
                if op in ("-A", "-I") and target not in TARGETS and target not in table:
                    raise RestoreError(f"jump to a chain not declared yet: {line}")
                if op == "-A":
                    table[chain].append(rule)
                elif op == "-I":
                    table[chain].insert(0, rule)
                elif op == "-D":
                    if rule not in table[chain]:
                        raise RestoreError(f"no such rule: {line}")
                    table[chain].remove(rule)
                elif op == "-X":
                    if table[chain] or any(f"-j {chain}" in r for rs in table.values() for r in rs):
                        raise RestoreError(f"chain in use or not empty: {line}")
                    del table[chain]
        self.tables = staged

    @staticmethod
    def _check(table: dict[str, list[str]]) -> None:
        for rules in table.values():
            for rule in rules:
                argv = shlex.split(rule)
                target = argv[argv.index("-j") + 1]
                if target not in TARGETS and target not in table:
                    raise RestoreError(f"jump to missing chain {target}")

    def ours(self) -> dict[str, dict[str, list[str]]]:
        return {t: {c: r for c, r in chains.items() if c.startswith("KUBE-")}
                for t, chains in self.tables.items()}


def service(i: int, kind: int) -> dict[str, Any]:
    ports: list[dict[str, Any]] = [{"name": "http", "port": 80}]
    if kind % 2:
        ports.append({"name": "dns", "port": 53, "protocol": "UDP"})
    spec: dict[str, Any] = {"clusterIP": f"10.96.0.{i + 1}", "ports": ports,
                            "type": "NodePort" if kind >= 2 else "ClusterIP"}
    if kind >= 2:
        for n, p in enumerate(ports):
            p["nodePort"] = 30000 + i * 2 + n
    if kind == 3:
        spec["sessionAffinity"] = "ClientIP"
    return {"metadata": {"namespace": "ns", "name": f"s{i}"}, "spec": spec}


def endpoints(i: int, members: list[int]) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": f"s{i}"},
            "subsets": [{"addresses": [{"ip": f"10.244.0.{m}"} for m in members],
                         "ports": [{"name": "http", "port": 8080},
                                   {"name": "dns", "port": 5353, "protocol": "UDP"}]}]
            if members else []}


OPS = st.lists(st.one_of(
    st.tuples(st.just("service"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("endpoints"), st.integers(0, 2),
              st.lists(st.integers(1, 4), max_size=3, unique=True)),
    st.tuples(st.just("delete-service"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("delete-endpoints"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("full-sync"), st.just(0), st.just(0)),
), min_size=1, max_size=20)


def proxy_on(kernel: FakeKernel) -> Proxier:
    p = Proxier(None, ProxySettings(flush_udp_conntrack=False))
    p.backend = cast(Backend, kernel)  # duck-typed: save, restore, restoring
    return p


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_partial_syncs_converge_to_the_full_sync_result(ops: list[tuple[str, int, Any]]) -> None:
    async def run() -> None:
        kernel = FakeKernel()
        proxy = proxy_on(kernel)
        objects: dict[str, dict[int, dict[str, Any]]] = {"service": {}, "endpoints": {}}
        await proxy.sync()
        for op, i, arg in ops:
            if op == "service":
                objects["service"][i] = service(i, arg)
                proxy.set_service(objects["service"][i])
            elif op == "endpoints":
                objects["endpoints"][i] = endpoints(i, arg)
                proxy.set_endpoints(objects["endpoints"][i])
            elif op == "delete-service" and i in objects["service"]:
                proxy.delete_service(objects["service"].pop(i))
            elif op == "delete-endpoints" and i in objects["endpoints"]:
                proxy.delete_endpoints(objects["endpoints"].pop(i))
            await proxy.sync(full=op == "full-sync")

            fresh_kernel = FakeKernel()
            fresh = proxy_on(fresh_kernel)
            for svc in objects["service"].values():
                fresh.set_service(svc)
            for eps in objects["endpoints"].values():
                fresh.set_endpoints(eps)
            await fresh.sync()
            got, want = kernel.ours(), fresh_kernel.ours()
            for table in want:  # KUBE-SERVICES order may differ: compare as sets there
                assert got[table].keys() == want[table].keys(), (op, i)
                for chain in want[table]:
                    assert sorted(got[table][chain]) == sorted(want[table][chain]), chain
            assert kernel.tables["nat"]["PREROUTING"] == fresh_kernel.tables["nat"]["PREROUTING"]

    asyncio.run(run())
