"""NetworkPolicy planning and rule text (pure): which pods a policy isolates, what its
peer and named-port sets hold, that rules do not grow with pods, and the golden text."""

from __future__ import annotations

from typing import Any

from agent.netpol import rules
from agent.netpol.policy import EGRESS_ISOLATED, INGRESS_ISOLATED, Plan, Planner, Pod
from cni_plugins.ipset_runner import IpSet, restore_text

NAMESPACES = {"prod": {"team": "prod"}, "dev": {"team": "dev"}}


def pods(n_extra: int = 0) -> list[Pod]:
    http = (("http", "TCP", 8080),)
    base = [Pod("prod", "web", "10.244.1.2", {"app": "web"}, "n1", http),
            Pod("prod", "web2", "10.244.2.2", {"app": "web"}, "n2", (("http", "TCP", 8081),)),
            Pod("prod", "db", "10.244.1.3", {"app": "db"}, "n1"),
            Pod("dev", "tester", "10.244.2.9", {"app": "tester"}, "n2")]
    extra = [Pod("dev", f"x{i}", f"10.245.{i // 250}.{i % 250}", {"app": "x"}, "n1", http)
             for i in range(n_extra)]
    return base + extra


def policy(name: str, spec: dict[str, Any], ns: str = "prod") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


WEB_FROM_DEV = policy("web-from-dev", {
    "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "dev"}}},
                          {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.9.0/24"]}}],
                 "ports": [{"port": "http"}]}]})


def test_a_policy_isolates_only_its_local_pods_and_names_its_peers() -> None:
    plan = Planner(pods(), NAMESPACES, "n1").plan([WEB_FROM_DEV])
    sets = {name.rsplit("-", 1)[-1] if "-ISO" not in name else name: s
            for name, s in plan.sets.items()}
    assert plan.sets[INGRESS_ISOLATED] == IpSet("hash:ip", ("10.244.1.2",))
    assert plan.sets[EGRESS_ISOLATED] == IpSet("hash:ip", ("10.244.1.2",))  # no egress rule
    assert sets["S"] == IpSet("hash:ip", ("10.244.1.2",))
    assert sets["I0P"] == IpSet("hash:ip", ("10.244.2.9",))
    assert sets["I0B1"] == IpSet("hash:net", ("192.168.0.0/16",), ("192.168.9.0/24",))
    assert sets["8080"] == IpSet("hash:ip", ("10.244.1.2",))  # named port, resolved on web
    assert [(d, p) for d, _, _, p in plan.dispatch] == [("ingress", "prod/web-from-dev"),
                                                         ("egress", "prod/web-from-dev")]
    chain, = (c for c in plan.chains if c.startswith("MKP-NPI-"))
    assert all(spec.endswith('-m comment --comment "policy prod/web-from-dev ingress rule 0" ')
               for spec in plan.chains[chain])


def test_nothing_selected_here_means_nothing_to_do() -> None:
    assert Planner(pods(), NAMESPACES, "n3").plan([WEB_FROM_DEV]) == Plan()


def test_rules_do_not_grow_with_pods() -> None:
    few = Planner(pods(), NAMESPACES, "n1").plan([WEB_FROM_DEV])
    many = Planner(pods(500), NAMESPACES, "n1").plan([WEB_FROM_DEV])
    assert few.chains == many.chains
    assert len(many.sets["MKP-NP-INGRESS-ISO"].members) == 1


def test_egress_named_ports_resolve_on_the_peers() -> None:
    egress = policy("to-web", {"podSelector": {"matchLabels": {"app": "db"}},
                               "policyTypes": ["Egress"], "egress": [{
                                   "to": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                   "ports": [{"port": "http"}]}]})
    plan = Planner(pods(), NAMESPACES, "n1").plan([egress])
    (chain, specs), = plan.chains.items()
    assert chain.startswith("MKP-NPE-")
    assert [s.split("--dport ")[1].split()[0] for s in specs] == ["8080", "8081"]


GOLDEN = """\
*filter
:MKP-NWPLCY - [0:0]
:MKP-NP-EGRESS - [0:0]
:MKP-NP-INGRESS - [0:0]
:MKP-NPI-AAAA - [0:0]
:MKP-NPI-GONE - [0:0]
-A MKP-NWPLCY -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A MKP-NWPLCY -j MARK --set-xmark 0x0/0x30000
-A MKP-NWPLCY -j MKP-NP-EGRESS
-A MKP-NWPLCY -j MKP-NP-INGRESS
-A MKP-NP-INGRESS -m set --match-set MKP-NP-AAAA-S dst -m comment --comment "policy prod/a ingress" -j MKP-NPI-AAAA
-A MKP-NP-EGRESS -m set --match-set MKP-NP-EGRESS-ISO src -m mark ! --mark 0x20000/0x20000 -m comment --comment "egress not allowed by any network policy" -j DROP
-A MKP-NP-INGRESS -m set --match-set MKP-NP-INGRESS-ISO dst -m mark ! --mark 0x10000/0x10000 -m comment --comment "ingress not allowed by any network policy" -j DROP
-A MKP-NPI-AAAA -m set --match-set MKP-NP-AAAA-I0P src -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10000/0x10000
-I FORWARD 1 -m comment --comment "minikube-py network policies" -j MKP-NWPLCY
-X MKP-NPI-GONE
COMMIT
"""


def test_restore_text_matches_golden() -> None:
    plan = Plan(dispatch=[("ingress", "MKP-NP-AAAA-S", "MKP-NPI-AAAA", "prod/a")], chains={
        "MKP-NPI-AAAA": ["-m set --match-set MKP-NP-AAAA-I0P src -p tcp -m tcp --dport 80 "]})
    assert rules.restore_text(plan, {"MKP-NPI-GONE", "DOCKER"}, hooked=False) == GOLDEN


def test_an_empty_plan_removes_everything_of_ours_only() -> None:
    text = rules.restore_text(Plan(), {"MKP-NWPLCY", "MKP-NP-INGRESS", "DOCKER"}, hooked=True)
    assert "-D FORWARD -m comment" in text and "-X MKP-NWPLCY" in text and "DOCKER" not in text
    assert rules.restore_text(Plan(), {"DOCKER"}, hooked=False) == ""


def test_sets_are_swapped_in_whole() -> None:
    text = restore_text({"MKP-NP-X-S": IpSet("hash:net", ("10.0.0.0/8",), ("10.1.0.0/16",))})
    assert text.splitlines() == [
        "create MKP-NP-X-S hash:net family inet hashsize 64 maxelem 262144 -exist",
        "create MKP-NP-X-S-T hash:net family inet hashsize 64 maxelem 262144 -exist",
        "flush MKP-NP-X-S-T", "add MKP-NP-X-S-T 10.0.0.0/8 -exist",
        "add MKP-NP-X-S-T 10.1.0.0/16 nomatch -exist",
        "swap MKP-NP-X-S-T MKP-NP-X-S", "destroy MKP-NP-X-S-T"]
