"""The filter-table text of a NetworkPolicy Plan, for one iptables-restore --noflush.

    FORWARD -> MKP-NWPLCY: ESTABLISHED/RELATED return at once (replies always pass);
               our two mark bits cleared, then
      -> MKP-NP-EGRESS:  source in a policy's local-pod set -> that policy's chain, which
                         sets the egress bit for what one of its rules allows; an
                         egress-isolated source without the bit is dropped
      -> MKP-NP-INGRESS: the same for destinations and the ingress bit
Nothing here ACCEPTs: allowed traffic returns to FORWARD, whose own rules (pod CIDR
forwarding, Docker's) decide as before. Only FORWARD is hooked: traffic between a pod and
its own node is always allowed, as Kubernetes specifies. Pure text, like agent/proxy.
"""

from __future__ import annotations

from collections.abc import Collection

from agent.netpol.policy import CHAIN_PREFIX, EGRESS_ISOLATED, INGRESS_ISOLATED, Plan, comment

TOP = "MKP-NWPLCY"
INGRESS = "MKP-NP-INGRESS"
EGRESS = "MKP-NP-EGRESS"
MARKS = {"ingress": 0x10000, "egress": 0x20000}
HOOK = ('-m comment --comment "minikube-py network policies" -j ' + TOP)


def is_ours(chain: str) -> bool:
    return chain == TOP or chain.startswith(CHAIN_PREFIX)


def _mark(bits: int) -> str:
    return f"{bits:#x}/{bits:#x}"


def restore_text(plan: Plan, present: Collection[str], hooked: bool) -> str:
    """The filter transaction making the kernel hold exactly `plan`: our chains rewritten
    (declared first, so flushed), chains of ours no longer wanted deleted, the FORWARD hook
    added or, for an empty plan, removed with everything else of ours."""
    stale = sorted(c for c in present if is_ours(c))
    if plan.empty:
        if not stale and not hooked:
            return ""
        unhook = [f"-D FORWARD {HOOK}"] if hooked else []
        return _table(stale, [*unhook, *(f"-X {c}" for c in stale)])
    both = MARKS["ingress"] | MARKS["egress"]
    wanted = [TOP, EGRESS, INGRESS, *plan.chains]
    lines = [f"-A {TOP} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
             f"-A {TOP} -j MARK --set-xmark 0x0/{both:#x}",
             f"-A {TOP} -j {EGRESS}", f"-A {TOP} -j {INGRESS}"]
    for direction, local, chain, policy in plan.dispatch:
        dispatcher, end = (INGRESS, "dst") if direction == "ingress" else (EGRESS, "src")
        lines.append(f"-A {dispatcher} -m set --match-set {local} {end} "
                     f"{comment(f'{policy} {direction}')}-j {chain}")
    for direction, dispatcher, isolated, end in (
            ("egress", EGRESS, EGRESS_ISOLATED, "src"),
            ("ingress", INGRESS, INGRESS_ISOLATED, "dst")):
        lines.append(f"-A {dispatcher} -m set --match-set {isolated} {end} -m mark ! --mark "
                     f"{_mark(MARKS[direction])} -m comment --comment "
                     f'"{direction} not allowed by any network policy" -j DROP')
    for chain, specs in plan.chains.items():
        bits = MARKS["ingress" if chain.startswith(f"{CHAIN_PREFIX}I-") else "egress"]
        lines += [f"-A {chain} {spec}-j MARK --set-xmark {_mark(bits)}" for spec in specs]
    gone = [c for c in stale if c not in wanted]
    hook = [] if hooked else [f"-I FORWARD 1 {HOOK}"]
    return _table([*wanted, *gone], [*lines, *hook, *(f"-X {c}" for c in gone)])


def _table(declared: list[str], lines: list[str]) -> str:
    return "*filter\n" + "".join(f":{c} - [0:0]\n" for c in declared) + \
        "".join(f"{line}\n" for line in lines) + "COMMIT\n"
