"""Golden text for the computed overlay state and forwarding rules (no kernel needed)."""

from __future__ import annotations

import ipaddress

from cni_plugins import forwarding, overlay


def remote(name: str, n: int) -> overlay.Remote:
    return overlay.Remote(name, ipaddress.IPv4Network(f"10.244.{n}.0/24"),
                          f"AA:BB:CC:00:00:{n:02x}", ipaddress.IPv4Address(f"192.0.2.{n}"))


def test_three_entries_per_remote_node() -> None:
    assert overlay.render(overlay.desired([remote("b", 2), remote("c", 3)])) == """\
fdb aa:bb:cc:00:00:02 dev mkp.vxlan dst 192.0.2.2 self permanent
fdb aa:bb:cc:00:00:03 dev mkp.vxlan dst 192.0.2.3 self permanent
neigh 10.244.2.0 lladdr aa:bb:cc:00:00:02 dev mkp.vxlan nud permanent
neigh 10.244.3.0 lladdr aa:bb:cc:00:00:03 dev mkp.vxlan nud permanent
route 10.244.2.0/24 via 10.244.2.0 dev mkp.vxlan onlink
route 10.244.3.0/24 via 10.244.3.0 dev mkp.vxlan onlink"""


def test_no_remotes_no_entries() -> None:
    assert overlay.render(overlay.desired([])) == ""


EMPTY = {"filter": "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n", "nat": "*nat\nCOMMIT\n"}


def test_forwarding_rules_first_time() -> None:
    assert forwarding.rules(ipaddress.IPv4Network("10.244.0.0/16"), EMPTY) == """\
*filter
:MKP-FORWARD - [0:0]
-I FORWARD 1 -j MKP-FORWARD
-A MKP-FORWARD -s 10.244.0.0/16 -m comment --comment "pod traffic out" -j ACCEPT
-A MKP-FORWARD -d 10.244.0.0/16 -m comment --comment "pod traffic in" -j ACCEPT
COMMIT
*nat
:MKP-POSTROUTING - [0:0]
-I POSTROUTING 1 -j MKP-POSTROUTING
-A MKP-POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "pod to pod" -j RETURN
-A MKP-POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \
"pods leaving the cluster" -j MASQUERADE --random-fully
COMMIT
"""


def test_forwarding_in_place_only_when_every_rule_is_there() -> None:
    cidr = ipaddress.IPv4Network("10.244.0.0/16")
    first = forwarding.rules(cidr, EMPTY)
    applied = [line for line in first.splitlines() if line.startswith("-A ")]
    saved = {"filter": "\n".join(["-A FORWARD -j MKP-FORWARD", *applied[:2]]),
             "nat": "\n".join(["-A POSTROUTING -j MKP-POSTROUTING", *applied[2:]])}
    assert forwarding.in_place(forwarding.rules(cidr, saved), saved)
    saved["nat"] = saved["nat"].replace("--random-fully", "")
    assert not forwarding.in_place(forwarding.rules(cidr, saved), saved)
    assert not forwarding.in_place(first, EMPTY)


def test_forwarding_jumps_are_not_added_twice() -> None:
    saved = {"filter": "-A FORWARD -j MKP-FORWARD\n", "nat": "-A POSTROUTING -j MKP-POSTROUTING\n"}
    text = forwarding.rules(ipaddress.IPv4Network("10.244.0.0/16"), saved)
    assert "-I FORWARD" not in text and "-I POSTROUTING" not in text
