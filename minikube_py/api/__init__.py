"""The Kubernetes API as data: what each kind is and how objects are checked, changed and shown.

No I/O here; the api-server, the client and the controllers all build on it. Two kinds of
module share this package:

- kinds, one module each (pod, podspec, service, endpoints, endpointslice, deployment,
  replicaset, workload, job, cronjob, namespace, node, lease, event, configmap, secret,
  serviceaccount; taints and cron are what two of them share): defaults, validation,
  field selectors and `kubectl get` columns, as a Strategy (strategy.py) that registry.py
  maps from each resource in resources.py;
- machinery the kinds and the api-server use: object metadata and keys (meta), errors
  and field causes (errors, field), selectors, quantities, patches (patch, strategic,
  patchmeta), tables, the OpenAPI schema and pruning (schema, openapi_gen, data/),
  protobuf bodies (protobuf, protobuf_objects), tolerant reads (shape), service-account
  tokens (sa_token).

They stay one flat package rather than `api/kinds/` and `api/machinery/` subpackages:
kinds import machinery and nothing else, the layer contract treats `api` as one layer, and
a move would rewrite imports in some 150 modules for a line a docstring can draw.
"""
