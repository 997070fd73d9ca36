"""NetworkPolicy enforcement on the node, kube-router's way (policy.py: what the policies
mean here as ipsets and rule specs, rules.py: the filter text, enforcer.py: the loop;
running iptables and ipset is cni_plugins')."""


def cleanup(netns: str | None = None) -> None:
    """Remove our hook, chains and ipsets (for `down`; idempotent)."""
    from agent.netpol.enforcer import apply
    from agent.netpol.policy import Plan

    apply(Plan(), netns)
