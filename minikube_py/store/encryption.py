"""Values encrypted at rest, byte-compatible with kube-apiserver's storage transformers.

A value is stored as `k8s:enc:<provider>:v1:<key name>:` + ciphertext, so
`etcdctl get /registry/secrets/...` shows only the prefix and random bytes, and
a value written by kube-apiserver with the same key reads back here (and the
other way). For each resource an ordered provider list: the first one seals
every write, any one may open a read (chosen by the prefix; the `identity`
provider, empty prefix, reads plain JSON written before encryption was turned
on). A value opened by any provider but the first is *stale*: rewriting it
seals it with the first, which is how a key is rotated.

  aescbc:    16-byte random IV + AES-CBC of the PKCS#7-padded value
  secretbox: 24-byte random nonce + XSalsa20-Poly1305 (NaCl secretbox: tag, ciphertext)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import nacl.exceptions
import nacl.secret
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from minikube_py.store.errors import Undecryptable

ENCRYPTED = b"k8s:enc:"
_BLOCK = 16


class Provider(Protocol):
    """One key of one provider type: seals and opens the bytes after its prefix."""

    @property
    def prefix(self) -> bytes: ...

    def seal(self, data: bytes) -> bytes: ...

    def open(self, data: bytes) -> bytes: ...


def provider_prefix(kind: str, key_name: str) -> bytes:
    return b"%s%s:v1:%s:" % (ENCRYPTED, kind.encode(), key_name.encode())


class AesCbc:
    """kube-apiserver's aescbc: AES (16/24/32-byte key) in CBC mode, no MAC."""

    def __init__(self, key_name: str, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError(f"aescbc key {key_name!r} must be 16, 24 or 32 bytes, "
                             f"got {len(key)}")
        self.prefix = provider_prefix("aescbc", key_name)
        self.algorithm = algorithms.AES(key)

    def seal(self, data: bytes) -> bytes:
        iv = os.urandom(_BLOCK)
        padder = padding.PKCS7(_BLOCK * 8).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = Cipher(self.algorithm, modes.CBC(iv)).encryptor()
        return iv + encryptor.update(padded) + encryptor.finalize()

    def open(self, data: bytes) -> bytes:
        if len(data) < 2 * _BLOCK or len(data) % _BLOCK:
            raise ValueError("the stored data is not a whole number of blocks")
        decryptor = Cipher(self.algorithm, modes.CBC(data[:_BLOCK])).decryptor()
        padded = decryptor.update(data[_BLOCK:]) + decryptor.finalize()
        unpadder = padding.PKCS7(_BLOCK * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise ValueError("invalid padding on input (wrong key?)") from None


class SecretBox:
    """kube-apiserver's secretbox: XSalsa20-Poly1305 with a 32-byte key (authenticated)."""

    def __init__(self, key_name: str, key: bytes) -> None:
        if len(key) != nacl.secret.SecretBox.KEY_SIZE:
            raise ValueError(f"secretbox key {key_name!r} must be 32 bytes, got {len(key)}")
        self.prefix = provider_prefix("secretbox", key_name)
        self.box = nacl.secret.SecretBox(key)

    def seal(self, data: bytes) -> bytes:
        return bytes(self.box.encrypt(data))  # nonce, tag, ciphertext: Go's layout

    def open(self, data: bytes) -> bytes:
        try:
            return self.box.decrypt(data)
        except (nacl.exceptions.CryptoError, ValueError):
            raise ValueError("secretbox authentication failed (wrong key?)") from None


class Identity:
    """No encryption; reads only what is not encrypted."""

    prefix = b""

    def seal(self, data: bytes) -> bytes:
        return data

    def open(self, data: bytes) -> bytes:
        if data.startswith(ENCRYPTED):
            raise ValueError("identity transformer tried to read encrypted data")
        return data


@dataclass(frozen=True)
class Transformer:
    """The providers of one resource, in configuration order."""

    providers: Sequence[Provider]

    def seal(self, data: bytes) -> bytes:
        first = self.providers[0]
        return first.prefix + first.seal(data)

    def open(self, data: bytes) -> tuple[bytes, bool]:
        """(plain value, stale: not sealed by the first provider). ValueError if no
        provider can open it."""
        for i, provider in enumerate(self.providers):
            if not data.startswith(provider.prefix):
                continue
            try:
                plain = provider.open(data[len(provider.prefix):])
            except ValueError:
                if not provider.prefix:  # identity first (decrypting away): try the others
                    continue
                raise
            return plain, i != 0
        raise ValueError("no matching prefix found")


class Encryption:
    """Which etcd keys are encrypted, and how: key prefix -> Transformer (most specific
    prefix first). Keys under no prefix are stored as they are."""

    def __init__(self, transformers: dict[str, Transformer]) -> None:
        self.transformers = sorted(transformers.items(), key=lambda kv: -len(kv[0]))

    def _for(self, key: str) -> Transformer | None:
        for prefix, transformer in self.transformers:
            if key.startswith(prefix):
                return transformer
        return None

    def seal(self, key: str, value: bytes) -> bytes:
        transformer = self._for(key)
        return value if transformer is None else transformer.seal(value)

    def open(self, key: str, value: bytes) -> bytes:
        """The plain value of `key`; Undecryptable (naming the key) if it cannot be read."""
        transformer = self._for(key)
        if transformer is None:
            return value
        try:
            return transformer.open(value)[0]
        except ValueError as e:
            raise Undecryptable(key, f"unable to transform key {key!r}: {e}") from None
