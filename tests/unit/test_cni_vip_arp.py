"""The gratuitous ARP a VIP holder broadcasts (cni_plugins/vip.py), byte for byte as
RFC 5227 describes it: sender and target protocol address both the VIP."""

from __future__ import annotations

import pytest

from cni_plugins.vip import arp_frame

MAC = bytes.fromhex("0242c0a84dca")


@pytest.mark.parametrize(("op", "target_mac"), [
    pytest.param(1, "000000000000", id="request"),
    pytest.param(2, "ffffffffffff", id="reply"),
])
def test_gratuitous_arp_frame(op: int, target_mac: str) -> None:
    frame = arp_frame(MAC, "192.168.77.250", op=op)
    assert frame.hex() == (
        "ffffffffffff" "0242c0a84dca" "0806"          # broadcast, from us, ARP
        "0001" "0800" "06" "04" f"000{op}"           # Ethernet/IPv4, op
        "0242c0a84dca" "c0a84dfa"                   # sender: our MAC, the VIP
        f"{target_mac}" "c0a84dfa")                 # target: the VIP again
    assert len(frame) == 42
