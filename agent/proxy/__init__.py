"""The service proxy: kube-proxy's iptables mode (see iptables.py for the rules,
proxier.py for the sync loop; running iptables, legacy vs nft, is
cni_plugins/iptables_runner.py's)."""


def cleanup(netns: str | None = None) -> None:
    """Remove every chain and jump of ours, nat and filter, from both iptables backends.

    What `minikube-py down` calls (synchronous; idempotent: nothing left is success).
    """
    import asyncio

    from agent.proxy.proxier import remove_everywhere

    asyncio.run(remove_everywhere(netns))
