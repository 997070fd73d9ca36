"""Merging DNS servers' addresses into kube-system/kube-dns Endpoints (pure part)."""

from minikube_py.dns.registration import dns_ports, with_address


def test_servers_join_and_leave_without_touching_each_other() -> None:
    one = with_address([], "10.0.0.1", 53, True)
    assert one == [{"addresses": [{"ip": "10.0.0.1"}], "ports": dns_ports(53)}]
    two = with_address(one, "10.0.0.2", 53, True)
    assert two == [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                    "ports": dns_ports(53)}]
    assert with_address(two, "10.0.0.2", 53, True) == two  # idempotent
    assert with_address(two, "10.0.0.1", 53, False) == [
        {"addresses": [{"ip": "10.0.0.2"}], "ports": dns_ports(53)}]
    assert with_address(one, "10.0.0.1", 53, False) == []


def test_a_server_on_another_port_gets_its_own_subset() -> None:
    both = with_address(with_address([], "10.0.0.1", 53, True), "10.0.0.2", 5353, True)
    assert [(s["addresses"], s["ports"][0]["port"]) for s in both] == [
        ([{"ip": "10.0.0.1"}], 53), ([{"ip": "10.0.0.2"}], 5353)]
    moved = with_address(both, "10.0.0.2", 53, True)  # restarted on 53: one entry only
    assert moved == [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                      "ports": dns_ports(53)}]
