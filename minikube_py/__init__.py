"""minikube_py: the control plane and the tools around it (agent/ and cni_plugins/ are the node).

Layers, lowest first, enforced by the import-linter contracts in pyproject.toml: `api`
(kinds and wire machinery, no I/O) < `store` (etcd; only the api-server uses it) and
`client` (everything else talks to the cluster through it) < `apiserver`, `scheduler`,
`controllers` < `cluster` (whole clusters as processes) < `cli`.
"""
