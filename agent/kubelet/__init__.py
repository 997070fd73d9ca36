"""The kubelet: runs the pods bound to this node in Docker and reports what really happened.

Pods come from the api-server (apisource, source); a worker per pod drives it to its spec
(pod_sync: sandbox, images, volumes, containers, probes, restart back-off) through the
container runtime (runtime.py); status.py and node.py write pod and Node status; server.py
serves the kubelet API (logs, exec, attach, port-forward over WebSocket and SPDY) to the
api-server. Kubernetes' kubelet is the model: its field names, reasons, events and
back-off timings.
"""
