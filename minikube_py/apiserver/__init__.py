"""The api-server: the cluster's one door to etcd, serving the Kubernetes REST API over HTTPS.

Owns authentication and authorization (authn, authz, tokens), every verb on every resource
(rest, listing, deletion, subresources, watch), discovery and OpenAPI, server-side Tables,
the PKI it creates on first start, the default objects (bootstrap) and its own background
work (namespace lifecycle, endpoint leases, etcd compaction). What a kind means comes from
`minikube_py.api`; storage from `minikube_py.store`. server.py runs the process, app.py
composes the aiohttp application.
"""
