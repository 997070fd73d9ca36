"""NetworkPolicy's verdict on a packet, read from the filter rules its walk matched.

The agent comments every rule it writes for policies (agent/netpol/rules.py): a policy's
dispatch rule "policy NS/NAME DIRECTION" matches when the policy selects the packet's pod
(its source for egress, its destination for ingress), each allowing rule "policy NS/NAME
DIRECTION rule N" when that rule lets the packet through, and "DIRECTION not allowed by
any network policy" is the drop of an isolated pod's packet nothing allowed. So which
policies selected the pod, which rule allowed the packet, or that none did, is a reading
of the matched steps; the rules and ipsets are the node's own. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from minikube_py.trace.rules import Step

TOP = "MKP-NWPLCY"  # the agent's chain hooked from FORWARD
DIRECTION_CHAINS = {"egress": "MKP-NP-EGRESS", "ingress": "MKP-NP-INGRESS"}
_POLICY = re.compile(r"^policy (\S+) (ingress|egress)(?: rule (\d+))?$")
_DROP = re.compile(r"^(ingress|egress) not allowed by any network policy$")


@dataclass(frozen=True)
class Verdict:
    direction: str  # "egress" (of the source pod) | "ingress" (of the destination pod)
    verdict: str  # "allowed" | "dropped" | "not isolated" | "not evaluated"
    policies: tuple[str, ...] = ()  # "ns/name" of each policy selecting the pod
    allowed_by: tuple[str, ...] = ()  # "ns/name rule N" of each rule allowing the packet
    unknown: str = ""  # why a rule of this direction could not be evaluated

    def text(self, pod: str) -> str:
        head = f"NetworkPolicy {self.direction} of {pod}: "
        selected = ", ".join(self.policies)
        if self.verdict == "not evaluated":
            return head + f"not evaluated ({self.unknown})"
        if self.verdict == "not isolated":
            return head + "allowed, no policy selects it (not isolated)"
        if self.verdict == "dropped":
            return head + f"DROPPED: selected by {selected}, no rule of theirs allows it"
        return head + f"allowed by {', '.join(self.allowed_by)} (selected by {selected})"


def _comment(step: Step) -> str:
    found = step.rule.option("--comment")
    return found[0] if found else ""


def verdicts(steps: Sequence[Step]) -> list[Verdict]:
    """Each direction the packet met the policy rules in, in the order it met them ([] when
    this walk never entered them: no policy anywhere on this node, or an earlier verdict)."""
    if not any(s.rule.target == TOP and not s.unknown for s in steps):
        return []
    out: list[Verdict] = []
    for direction, chain in DIRECTION_CHAINS.items():
        if not any(s.rule.target == chain and not s.unknown for s in steps):
            continue
        policies: list[str] = []
        allowed: list[str] = []
        unknown, dropped = "", False
        for step in steps:
            text = _comment(step)
            policy, drop = _POLICY.match(text), _DROP.match(text)
            if not ((policy and policy[2] == direction) or (drop and drop[1] == direction)):
                continue
            if step.unknown:
                unknown = unknown or step.unknown
            elif drop:
                dropped = True
            elif policy and policy[3] is None:
                policies.append(policy[1])
            elif policy:
                allowed.append(f"{policy[1]} rule {policy[3]}")
        verdict = ("not evaluated" if unknown else "dropped" if dropped
                   else "allowed" if policies else "not isolated")
        out.append(Verdict(direction, verdict, tuple(policies),
                           tuple(dict.fromkeys(allowed)), unknown))
    return out
