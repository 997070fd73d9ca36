"""`Warning` response headers (RFC 7234 299 warnings), as kube-apiserver sends them and
kubectl prints them (`Warning: would violate PodSecurity ...`): handlers add texts to the
request, the middleware writes them on the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

WARNINGS = "minikube_py.warnings"


def add_warning(request: web.Request, text: str) -> None:
    request.setdefault(WARNINGS, []).append(text)


@web.middleware
async def warning_headers(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
    response = await handler(request)
    for text in request.get(WARNINGS, ()):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response
