"""`minikube-py ingress`: Ingresses rendered into HAProxy's configuration on the node."""

from minikube_py.ingress.app import run
from minikube_py.ingress.settings import IngressSettings

__all__ = ["IngressSettings", "run"]
