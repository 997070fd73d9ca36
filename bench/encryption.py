"""Secrets at rest: what sealing and opening one stored value costs, per provider.

    .venv/bin/python bench/encryption.py [--rounds 5] [--values 20000]

Every Secret write seals its value and every read (GET, LIST item, watch event) opens
it, in the api-server's one thread. Alternated rounds of identity (the baseline: no
encryption), aescbc (cryptography) and secretbox (PyNaCl/libsodium) over values the
size of a small Secret (~1 KiB) and a large one (64 KiB); prints us per seal+open and
the ratio to a whole GET of an object (~0.5 ms of the server's CPU, bench/apiserver.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from minikube_py.store.encryption import AesCbc, Identity, Provider, SecretBox, Transformer

GET_US = 500.0  # one GET's server CPU, bench/README.md (#2 api-server)


def round_us(transformer: Transformer, value: bytes, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        transformer.open(transformer.seal(value))
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--values", type=int, default=20000)
    args = parser.parse_args()
    providers: dict[str, Provider] = {"identity": Identity(),
                                      "aescbc": AesCbc("k", os.urandom(32)),
                                      "secretbox": SecretBox("k", os.urandom(32))}
    for size in (1024, 65536):
        value = os.urandom(size)
        n = args.values if size < 4096 else args.values // 20
        seen: dict[str, list[float]] = {name: [] for name in providers}
        for _ in range(args.rounds):
            for name, provider in providers.items():
                seen[name].append(round_us(Transformer([provider]), value, n))
        for name, figures in seen.items():
            median = statistics.median(figures)
            print(f"{size:>6} B  {name:<10} seal+open {median:8.2f} us "
                  f"({median / GET_US:6.1%} of a GET)  rounds {min(figures):.2f}-"
                  f"{max(figures):.2f}")


if __name__ == "__main__":
    main()
