"""All of the host's netlink (pyroute2) and iptables code: nothing else touches either.

The CNI plugin (`mkp-bridge`, CNI 1.0/1.1; 0.3.x/0.4.0 results on request):
  plugin.py    run(env, stdin) -> (rc, stdout): the one error boundary; main() for tests
  conf.py      CNI_* variables and the network config, validated before anything is done
  commands.py  ADD / DEL / CHECK / STATUS / GC: step order and undo on failure
  bridge.py    node bridge, veth pair, container-side address and routes (pyroute2)
  ipam.py      host-local layout: one O_EXCL file per lease under flock
  result.py    Result JSON, per-version conversion, prevResult merge
  nsutil.py    netlink sockets in other namespaces without forking (per-thread setns)
  netlink.py   add/delete decided by errno (EEXIST on add, ENODEV/ENOENT on delete: done)
  shim.py      the installed executable: stdlib only, forwards to service.py
  service.py   resident netlink service (pyroute2 loaded once), in the node's namespace
  install.py   writes the shim into a CNI bin dir
The overlay (run by agent/overlay.py):
  overlay.py     VXLAN device and per-node neighbour / FDB / route, reconciled
  forwarding.py  ip_forward, FORWARD accepts and masquerade (MKP-* chains)
Shared with the proxy (agent/proxy) and the lab (minikube_py/cluster/lab.py):
  iptables_runner.py  the one iptables runner: backend per host, -save/-restore, IptablesError
  underlay.py         the lab's switch bridge and its namespace machines
"""
