"""`minikube-py agent`: everything that runs on a node (main.py supervises the parts).

The kubelet (kubelet/), the service proxy (proxy/), the overlay loop that wires this node
to the others (overlay.py, through cni_plugins), the node's CNI config (cni_config.py) and
hollow nodes for scale tests (hollow.py). It reaches the cluster only through
`minikube_py.client`, never etcd.
"""
