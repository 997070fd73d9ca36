"""aetcd over TLS for the benchmarks' raw-etcd baselines: the api-server's embedded etcd
requires client certificates, and aetcd only opens plain channels."""

from __future__ import annotations

from pathlib import Path

import aetcd
from aetcd import rpc

from minikube_py.apiserver import etcd_pki
from minikube_py.store.etcdtls import EtcdTLS, channel


class TLSClient(aetcd.Client):  # type: ignore[misc]
    """aetcd.Client whose channel presents `tls` (its connect() opens
    rpc.insecure_channel: swapped for a TLS one while it does)."""

    def __init__(self, host: str, port: int, tls: EtcdTLS) -> None:
        super().__init__(host, port)
        self.tls = tls

    async def connect(self) -> None:
        plain = rpc.insecure_channel
        rpc.insecure_channel = lambda target, options=(): channel(target, self.tls,
                                                                  tuple(options))
        try:
            await super().connect()
        finally:
            rpc.insecure_channel = plain


def embedded_client(data_dir: Path, port: int) -> TLSClient:
    """A client of the api-server's embedded etcd in `data_dir`, with its certificates."""
    return TLSClient("127.0.0.1", port, etcd_pki.paths(data_dir / "pki").client)


def etcd_flags(data_dir: Path) -> list[str]:
    """api-server flags for another api-server on the embedded etcd of `data_dir`."""
    tls = etcd_pki.paths(data_dir / "pki").client
    return ["--etcd-cafile", str(tls.ca_file), "--etcd-certfile", str(tls.cert_file),
            "--etcd-keyfile", str(tls.key_file)]
