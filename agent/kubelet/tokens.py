"""The kubelet's token manager: the token of each projected serviceAccountToken source,
asked from TokenRequest bound to the pod, kept while fresh and asked again once it has
lived 80% of its life (Kubernetes' pkg/kubelet/token), so a running pod's token file is
replaced well before it expires. Tokens are forgotten with their pod.
"""

from __future__ import annotations

import time
from typing import Any

from agent.kubelet.errors import ContainerConfigError
from agent.kubelet.source import ObjectSource

REFRESH_AT = 0.8
DEFAULT_SECONDS = 3600


class TokenManager:
    def __init__(self, source: ObjectSource, clock: Any = time.time) -> None:
        self.source = source
        self.clock = clock
        # (pod uid, audience, seconds) -> (token, issued at, lifetime)
        self._tokens: dict[tuple[str, str, int], tuple[bytes, float, int]] = {}

    async def token(self, pod: dict[str, Any], projection: dict[str, Any]) -> bytes:
        meta, spec = pod["metadata"], pod["spec"]
        audience = str(projection.get("audience") or "")
        seconds = int(projection.get("expirationSeconds") or DEFAULT_SECONDS)
        key = (meta["uid"], audience, seconds)
        now = self.clock()
        held = self._tokens.get(key)
        if held is not None and now < held[1] + REFRESH_AT * held[2]:
            return held[0]
        answer = await self.source.token(
            meta["namespace"], spec.get("serviceAccountName") or "default",
            {"audiences": [audience] if audience else None, "expirationSeconds": seconds,
             "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"],
                                "uid": meta["uid"]}})
        if answer is None:
            raise ContainerConfigError("service account token not yet available")
        token = str(answer["status"]["token"]).encode()
        lifetime = int((answer.get("spec") or {}).get("expirationSeconds") or seconds)
        self._tokens[key] = (token, now, lifetime)
        return token

    def forget(self, uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]
