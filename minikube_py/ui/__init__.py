"""The web view: `minikube-py ui` (server.py) and the page it serves (static/)."""
