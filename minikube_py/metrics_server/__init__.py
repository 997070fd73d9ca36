"""`minikube-py metrics-server`: resource metrics (metrics.k8s.io) served through API
aggregation, and the front-proxy authentication every aggregated server needs."""
