"""A guard in front of the Dagster webserver: only the local browser and local clients may talk to it.

The stock webserver runs GraphQL mutations sent as GET and checks neither
``Host`` nor ``Origin``, so any web page the user visits could launch, stop or
wipe runs (cross-site request forgery), and a rebound DNS name could read the
UI. This ASGI app forwards every request and websocket to the webserver
behind it, after refusing:

* a ``Host`` header that is not the local address the guard serves on
  (DNS rebinding);
* an ``Origin`` header that is not that same local address (another site's
  page; requests without ``Origin``, such as the GraphQL Python client's, pass);
* a GraphQL mutation sent with GET (a link or an image tag can send GETs).
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import websockets
from graphql import GraphQLError, OperationType, parse
from graphql.language import OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade", "host"}


def allowed_hosts(port: int) -> set[str]:
    """``Host`` values a local browser or client sends to the guard."""
    return {f"{name}:{port}" for name in LOCAL_NAMES}


def is_get_mutation(method: str, path: str, query_string: str) -> bool:
    """Whether a GET to the GraphQL endpoint carries a mutation (unparsable queries count as mutations)."""
    if method != "GET" or not path.rstrip("/").endswith("/graphql"):
        return False
    queries = parse_qs(query_string).get("query", [])
    for text in queries:
        try:
            document = parse(text)
        except GraphQLError:
            return True
        if any(isinstance(d, OperationDefinitionNode) and d.operation == OperationType.MUTATION for d in document.definitions):
            return True
    return False


def refusal(headers: dict[str, str], port: int, method: str, path: str, query_string: str) -> str | None:
    """Why a request must be refused, or None."""
    hosts = allowed_hosts(port)
    host = headers.get("host", "")
    if host not in hosts:
        return f"Host {host!r} is not this machine's local address; open http://127.0.0.1:{port}/ instead."
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin).netloc not in hosts:
        return f"Requests from the web page at {origin!r} are refused: only the local Dagster UI may call this server."
    if is_get_mutation(method, path, query_string):
        return "GraphQL mutations must be sent with POST."
    return None


class WebserverGuard:
    """ASGI app forwarding allowed HTTP requests and websockets to the webserver at ``upstream``."""

    def __init__(self, upstream: str, port: int):
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.client = httpx.AsyncClient(base_url=self.upstream, timeout=None)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope.get("method", "GET")
        reason = refusal(headers, self.port, method, scope["path"], scope.get("query_string", b"").decode("latin-1"))
        if scope["type"] == "websocket":
            websocket = WebSocket(scope, receive, send)
            if reason:
                await websocket.close(code=1008, reason=reason[:120])
                return
            return await self._websocket(websocket, headers)
        if reason:
            return await PlainTextResponse(reason, status_code=403 if "mutation" not in reason else 405)(scope, receive, send)
        response = await self._http(Request(scope, receive))
        return await response(scope, receive, send)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, request: Request) -> Response:
        forwarded = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = self.client.build_request(request.method, request.url.path, params=request.url.query, headers=forwarded, content=await request.body())
        response = await self.client.send(upstream, stream=True)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP | {"content-length", "content-encoding"}}
        return StreamingResponse(response.aiter_raw(), status_code=response.status_code, headers=headers, background=_close(response))

    async def _websocket(self, websocket: WebSocket, headers: dict[str, str]) -> None:
        url = "ws" + self.upstream[len("http") :] + websocket.url.path
        protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        async with websockets.connect(url, subprotocols=protocols or None, max_size=None) as upstream:
            await websocket.accept(subprotocol=upstream.subprotocol)

            async def to_upstream():
                try:
                    while True:
                        message = await websocket.receive()
                        if message["type"] == "websocket.disconnect":
                            break
                        await upstream.send(message.get("text") if message.get("text") is not None else message.get("bytes"))
                except WebSocketDisconnect:
                    pass
                await upstream.close()

            async def to_client():
                async for message in upstream:
                    if isinstance(message, str):
                        await websocket.send_text(message)
                    else:
                        await websocket.send_bytes(message)

            tasks = [asyncio.create_task(to_upstream()), asyncio.create_task(to_client())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
        try:
            await websocket.close()
        except RuntimeError:
            pass


def _close(response: httpx.Response):
    from starlette.background import BackgroundTask

    return BackgroundTask(response.aclose)
