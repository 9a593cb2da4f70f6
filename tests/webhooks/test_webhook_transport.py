"""The delivery transport against a loopback server that replies with scripted bytes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from scf_worker.webhooks.client import WebhookClient
from scf_worker.webhooks.delivery import Message
from scf_worker.webhooks.endpoints import Endpoint
from scf_worker.webhooks.guard import GuardPolicy
from scf_worker.webhooks.signing import generate_secret
from scf_worker.webhooks.transport import (
    BAD_RESPONSE,
    CONNECT_FAILED,
    DNS_FAILED,
    KEEP_BYTES,
    MAX_HEAD_BYTES,
    MAX_RESPONSE_BYTES,
    SERVER_DISCONNECTED,
    TIMEOUT,
    Origin,
    Response,
    Transport,
    TransportError,
)

# What the server does with one request: bytes to send back, then whether to close.
Answer = tuple[bytes, bool]
NO_CONTENT: Answer = (b"HTTP/1.1 204 No Content\r\n\r\n", False)


@dataclass
class ScriptedServer:
    """Replies to requests in order from ``answers`` and records each request and connection."""

    answers: list[Answer | None]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers[len(self.requests) - 1] if len(self.requests) <= len(self.answers) \
                    else NO_CONTENT
                if answer is None:
                    await asyncio.Event().wait()  # never answer
                    return
                data, close = answer
                writer.write(data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _loopback(origin: Origin) -> Sequence[str]:
    return ["127.0.0.1"]


def run_with_server(answers: list[Answer | None],
                    scenario: Callable[[Transport, Origin, ScriptedServer], Awaitable[None]],
                    timeout_seconds: float = 5.0) -> ScriptedServer:
    server = ScriptedServer(answers)

    async def main() -> None:
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        transport = Transport(_loopback, 1.0, timeout_seconds)
        try:
            await scenario(transport, Origin("http", "127.0.0.1", server.port), server)
        finally:
            await transport.close()
            listener.close()

    asyncio.run(main())
    return server


async def post(transport: Transport, origin: Origin) -> Response:
    return await transport.post(origin, "/hook", [("Content-Type", "application/json")], b'{"a":1}')


def test_keep_alive_reuses_one_connection() -> None:
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        for _ in range(3):
            assert (await post(transport, origin)).status == 204

    server = run_with_server([], scenario)

    assert server.connections == 1
    assert len(server.requests) == 3
    assert server.requests[0].startswith(b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:")


def test_chunked_body_and_retry_after_are_read() -> None:
    chunked = (b"HTTP/1.1 503 Busy\r\nretry-AFTER: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", False)
    responses: list[Response] = []

    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        responses.append(await post(transport, origin))
        responses.append(await post(transport, origin))

    server = run_with_server([chunked], scenario)

    assert responses[0] == Response(503, b"hello world", "7")
    assert responses[1].status == 204
    assert server.connections == 1


def test_body_ended_by_close_is_complete() -> None:
    responses: list[Response] = []

    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        responses.append(await post(transport, origin))
        responses.append(await post(transport, origin))

    server = run_with_server([(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", True)], scenario)

    assert responses[0] == Response(200, b"all of it", None)
    assert server.connections == 2


def test_interim_response_is_skipped() -> None:
    interim = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", False)
    responses: list[Response] = []

    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        responses.append(await post(transport, origin))

    run_with_server([interim], scenario)

    assert responses == [Response(201, b"ok", None)]


def test_connection_closed_while_idle_is_replaced() -> None:
    # The receiver closes after its response without a Connection: close header, as keep-alive timeouts do.
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        assert (await post(transport, origin)).status == 204
        await asyncio.sleep(0)  # let the close arrive, as it would between deliveries
        assert (await post(transport, origin)).status == 204

    server = run_with_server([(NO_CONTENT[0], True)], scenario)

    assert server.connections == 2
    assert len(server.requests) == 2


def test_disconnect_after_response_bytes_is_not_resent() -> None:
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(TransportError) as caught:
            await post(transport, origin)
        assert caught.value.code == SERVER_DISCONNECTED

    server = run_with_server([(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", True)], scenario)

    assert len(server.requests) == 1


def test_long_body_keeps_first_kilobyte_and_drops_connection() -> None:
    size = 200 * 1024
    long_body = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size, False)
    responses: list[Response] = []

    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        responses.append(await post(transport, origin))
        responses.append(await post(transport, origin))

    server = run_with_server([long_body], scenario)

    assert responses[0].status == 200
    assert responses[0].head == b"x" * KEEP_BYTES
    assert server.connections == 2


def test_malformed_response_is_an_error() -> None:
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(TransportError) as caught:
            await post(transport, origin)
        assert caught.value.code == BAD_RESPONSE

    run_with_server([(b"SMTP ready\r\n\r\n", False)], scenario)


def test_silent_receiver_times_out() -> None:
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(TransportError) as caught:
            await post(transport, origin)
        assert caught.value.code == TIMEOUT
        assert (await post(transport, origin)).status == 204

    server = run_with_server([None], scenario, timeout_seconds=0.2)

    assert server.connections == 2


def test_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused

        async def main() -> None:
            transport = Transport(_loopback, 1.0, 2.0)
            with pytest.raises(TransportError) as caught:
                await post(transport, Origin("http", "127.0.0.1", port))
            assert caught.value.code == CONNECT_FAILED
            await transport.close()

        asyncio.run(main())


def test_header_with_line_break_is_refused() -> None:
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(ValueError):
            await transport.post(origin, "/", [("x-test", "a\r\nInjected: 1")], b"")

    server = run_with_server([], scenario)

    assert server.requests == []


def test_client_drops_unsafe_request_id_and_encodes_path() -> None:
    answers: list[Answer | None] = []
    server = ScriptedServer(answers)

    async def main() -> None:
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = WebhookClient(GuardPolicy(allow_loopback=True), 1.0, 2.0)
        endpoint = Endpoint.create(f"http://127.0.0.1:{port}/hook/回调?q=a b", [generate_secret()])
        event = {"event": "SCF_JOB_DONE", "jobId": "job-1", "requestId": "req\r\nInjected: 1"}
        try:
            attempt = await client.send(endpoint, Message.for_event(event, endpoint.url))
        finally:
            await client.close()
            listener.close()
        assert attempt.delivered

    asyncio.run(main())

    head = server.requests[0].partition(b"\r\n\r\n")[0]
    assert head.startswith(b"POST /hook/%E5%9B%9E%E8%B0%83?q=a%20b HTTP/1.1\r\n")
    assert b"Injected" not in head
    assert b"x-scf-request-id" not in head


def test_oversized_headers_fail() -> None:
    endless = (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10), False)

    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(TransportError) as caught:
            await post(transport, origin)
        assert caught.value.code == BAD_RESPONSE
        assert "headers exceed" in caught.value.reason

    run_with_server([endless], scenario)


@pytest.mark.parametrize("status_line", [b"RTSP/1.0 200 OK", b"ICE/1.0 200 OK"])
def test_non_http_status_line_fails(status_line: bytes) -> None:
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(TransportError) as caught:
            await post(transport, origin)
        assert caught.value.code == BAD_RESPONSE

    run_with_server([(status_line + b"\r\nContent-Length: 0\r\n\r\n", False)], scenario)


def test_unfinished_body_times_out_naming_status() -> None:
    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(TransportError) as caught:
            await post(transport, origin)
        assert caught.value.code == TIMEOUT
        assert "status 200" in caught.value.reason

    run_with_server([(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", False)], scenario,
                    timeout_seconds=0.2)


def test_resolver_failure_is_dns_failed() -> None:
    async def failing(origin: Origin) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    async def main() -> None:
        transport = Transport(failing, 1.0, 2.0)
        with pytest.raises(TransportError) as caught:
            await post(transport, Origin("https", "hooks.example.com", 443))
        assert caught.value.code == DNS_FAILED
        assert caught.value.reason == "Temporary failure in name resolution"
        await transport.close()

    asyncio.run(main())


def test_failed_lookup_keeps_other_attempts() -> None:
    server = ScriptedServer([])

    async def resolve(host: str, port: int) -> list[str]:
        if host == "hooks.example.com":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ["127.0.0.1"]

    async def main() -> list[str]:
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = WebhookClient(GuardPolicy(allow_loopback=True), 1.0, 2.0, resolver=resolve)
        endpoints = [Endpoint.create("https://hooks.example.com/x", [generate_secret()]),
                     Endpoint.create(f"http://localhost:{port}/hook", [generate_secret()])]
        event = {"event": "SCF_JOB_DONE", "jobId": "job-1"}
        try:
            attempts = await client.send_all((e, Message.for_event(event, e.url)) for e in endpoints)
        finally:
            await client.close()
            listener.close()
        return [attempt.code or attempt.outcome for attempt in attempts]

    assert asyncio.run(main()) == [DNS_FAILED, "delivered"]
    assert len(server.requests) == 1


def test_name_too_long_for_dns_is_blocked() -> None:
    async def main() -> str | None:
        client = WebhookClient(GuardPolicy(allow_loopback=True), 1.0, 2.0)
        endpoint = Endpoint.create(f"https://{'a' * 64}.example.com/x", [generate_secret()])
        attempt = await client.send(endpoint, Message.for_event({"event": "SCF_JOB_DONE", "jobId": "j"},
                                                                endpoint.url))
        await client.close()
        return attempt.code

    assert asyncio.run(main()) == "blocked_invalid_url"


def test_echoed_secret_and_query_token_are_masked() -> None:
    secret = generate_secret()
    token = "LEAKTOKEN4242"
    echo = f"key={secret.removeprefix('whsec_')} url=/hook?token={token}".encode()
    server = ScriptedServer([(b"HTTP/1.1 400 Bad\r\nContent-Length: %d\r\n\r\n" % len(echo) + echo, False)])

    async def main() -> str | None:
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = WebhookClient(GuardPolicy(allow_loopback=True), 1.0, 2.0)
        endpoint = Endpoint.create(f"http://127.0.0.1:{port}/hook?token={token}", [secret])
        try:
            attempt = await client.send(endpoint, Message.for_event({"event": "SCF_JOB_DONE", "jobId": "j"},
                                                                    endpoint.url))
        finally:
            await client.close()
            listener.close()
        return attempt.response_head

    head = asyncio.run(main())

    assert head == "key=[REDACTED] url=/hook?token=[REDACTED]"


def test_endless_trailer_fails() -> None:
    trailer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: "
               + b"t" * (MAX_RESPONSE_BYTES + 10), False)

    async def scenario(transport: Transport, origin: Origin, server: ScriptedServer) -> None:
        with pytest.raises(TransportError) as caught:
            await post(transport, origin)
        assert caught.value.code == BAD_RESPONSE
        assert "without completing" in caught.value.reason

    run_with_server([trailer], scenario)


def test_percent_encoded_query_token_is_masked() -> None:
    echo = b"url=/hook?enc=a%2Bb%2Fc%3Dlongervalue"
    server = ScriptedServer([(b"HTTP/1.1 400 Bad\r\nContent-Length: %d\r\n\r\n" % len(echo) + echo, False)])

    async def main() -> str | None:
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = WebhookClient(GuardPolicy(allow_loopback=True), 1.0, 2.0)
        endpoint = Endpoint.create(f"http://127.0.0.1:{port}/hook?enc=a%2Bb%2Fc%3Dlongervalue",
                                   [generate_secret()])
        try:
            attempt = await client.send(endpoint, Message.for_event({"event": "SCF_JOB_DONE", "jobId": "j"},
                                                                    endpoint.url))
        finally:
            await client.close()
            listener.close()
        return attempt.response_head

    assert asyncio.run(main()) == "url=/hook?enc=[REDACTED]"
