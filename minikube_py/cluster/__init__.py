"""Whole clusters on real hosts: `up`, `down`, `status`, the multi-node lab and `join`.

This package sits at the CLI's level: it starts the other components as processes
(`minikube-py <component> ...`) under a small supervisor and never imports their code,
except the cleanup functions `down` calls. Only `minikube_py.cli` imports it.
"""
