from minikube_py.apiserver.endpoint_leases import subsets


def test_one_subset_per_port_with_sorted_addresses() -> None:
    got = subsets({("10.0.0.2", 6443), ("10.0.0.1", 6443), ("127.0.0.1", 7443)})
    assert got == [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
         "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
        {"addresses": [{"ip": "127.0.0.1"}],
         "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]},
    ]


def test_no_live_api_server_means_no_subsets() -> None:
    assert subsets(set()) == []
