"""The SSRF guard in the delivery path: blocked targets get no request, loopback works when allowed.

Every target here is a loopback receiver; names are mapped by an injected
resolver, so no test sends traffic beyond 127.0.0.0/8 and ::1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest
from webhook_support import FakeClock, Receiver, Reply, Stack, emit, reference_verify, sample_event

from scf_worker.jobs.worker import run_until_idle
from scf_worker.retry.policy import PermanentError


class MappedResolver:
    """An injected resolver with fixed addresses per name and a record of every lookup."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return list(self.answers.get(host, ()))


BLOCKED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1",
                 "017700000001", "hooks.example.test"]


@pytest.mark.parametrize("host", BLOCKED_HOSTS)
def test_guard_blocks_loopback_spellings(host: str, make_stack: Callable[..., Stack],
                                         receivers: Callable[..., Receiver], clock: FakeClock,
                                         logs) -> None:  # type: ignore[no-untyped-def]
    ipv4 = receivers("127.0.0.1")
    ipv6 = receivers("::1", ipv4.port)
    resolver = MappedResolver({"hooks.example.test": ["127.0.0.1"]})
    stack = make_stack([f"https://{host}:{ipv4.port}/hook"], {"WEBHOOK_ALLOW_LOOPBACK": "false"},
                       resolver=resolver)

    emit(stack.services, sample_event())
    run_until_idle(stack.services, max_wait_seconds=60, sleep=clock.sleep)

    assert ipv4.requests == []
    assert ipv6.requests == []
    rows = stack.services.db.query("SELECT outcome, code, status FROM webhook_deliveries")
    assert [row["outcome"] for row in rows] == ["blocked"]
    assert rows[0]["status"] is None
    dead = stack.services.db.query("SELECT * FROM scf_dlq ORDER BY id")
    assert len(dead) == 1
    assert dead[0]["attempts"] == 1
    blocked = logs.events("webhook_blocked")
    assert len(blocked) == 1
    assert blocked[0]["code"].startswith("blocked_")
    if host == "hooks.example.test":
        assert resolver.lookups == ["hooks.example.test"]


def test_blocked_is_permanent(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    stack = make_stack([f"https://127.0.0.1:{receiver.port}/hook"], {"WEBHOOK_ALLOW_LOOPBACK": "false"})

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event())

    assert caught.value.code == "blocked_loopback"
    assert receiver.requests == []


def test_plain_http_refused_without_switch(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    resolver = MappedResolver({"hooks.example.test": ["127.0.0.1"]})
    stack = make_stack([f"http://hooks.example.test:{receiver.port}/hook"],
                       {"WEBHOOK_ALLOW_LOOPBACK": "false"}, resolver=resolver)

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event())

    assert caught.value.code == "blocked_plain_http"
    assert resolver.lookups == []
    assert receiver.requests == []


def test_loopback_switch_delivers(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    stack = make_stack([receiver.url()], {"WEBHOOK_ALLOW_LOOPBACK": "true"})

    result = stack.forwarder.forward(sample_event())

    assert result["delivered"] == 1
    assert len(receiver.requests) == 1
    reference_verify(stack.secret, receiver.requests[0], receiver.requests[0].received_at)


def test_loopback_switch_delivers_over_ipv6(make_stack: Callable[..., Stack],
                                            receivers: Callable[..., Receiver]) -> None:
    receiver = receivers("::1")
    stack = make_stack([receiver.url()], {"WEBHOOK_ALLOW_LOOPBACK": "true"})

    assert stack.forwarder.forward(sample_event())["delivered"] == 1
    assert len(receiver.requests) == 1


def test_loopback_switch_keeps_other_blocks(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    stack = make_stack([f"http://[::ffff:127.0.0.1]:{receiver.port}/hook",
                        f"http://0x7f.1:{receiver.port}/hook"], {"WEBHOOK_ALLOW_LOOPBACK": "true"})

    with pytest.raises(PermanentError):
        stack.forwarder.forward(sample_event())

    assert receiver.requests == []


def test_redirect_is_not_followed(make_stack: Callable[..., Stack],
                                  receivers: Callable[..., Receiver]) -> None:
    first, second = receivers(), receivers()
    first.default = Reply(302, headers={"Location": second.url()})
    stack = make_stack([first.url()], {"WEBHOOK_ALLOW_LOOPBACK": "true"})

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event())

    assert caught.value.code == "http_302"
    assert len(first.requests) == 1
    assert second.requests == []
    detail = stack.services.db.query("SELECT outcome FROM webhook_deliveries")[0]
    assert detail["outcome"] == "rejected"


def test_connects_to_checked_address(make_stack: Callable[..., Stack],
                                     receivers: Callable[..., Receiver]) -> None:
    primary = receivers("127.0.0.1")
    checked = receivers("127.0.0.2", primary.port)
    resolver = MappedResolver({"hooks.example.test": ["127.0.0.2"]})
    stack = make_stack([f"http://hooks.example.test:{primary.port}/hook"],
                       {"WEBHOOK_ALLOW_LOOPBACK": "true"}, resolver=resolver)

    assert stack.forwarder.forward(sample_event())["delivered"] == 1

    assert resolver.lookups == ["hooks.example.test"]
    assert len(checked.requests) == 1
    assert primary.requests == []
    assert checked.requests[0].headers["host"] == f"hooks.example.test:{primary.port}"


def test_mixed_answer_refused_whole(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    # With the switch off, one loopback address among the results blocks the name.
    resolver = MappedResolver({"hooks.example.test": ["127.0.0.1", "127.0.0.2"]})
    stack = make_stack([f"https://hooks.example.test:{receiver.port}/hook"],
                       {"WEBHOOK_ALLOW_LOOPBACK": "false"}, resolver=resolver)

    with pytest.raises(PermanentError):
        stack.forwarder.forward(sample_event())

    assert receiver.requests == []


def test_each_new_connection_resolves_again(make_stack: Callable[..., Stack],
                                            receivers: Callable[..., Receiver]) -> None:
    # The receiver closes every connection, so each attempt opens a new one and resolves again.
    receiver = receivers()
    receiver.default = Reply(200, headers={"Connection": "close"})
    resolver = MappedResolver({"hooks.example.test": ["127.0.0.1"]})
    stack = make_stack([f"http://hooks.example.test:{receiver.port}/hook"],
                       {"WEBHOOK_ALLOW_LOOPBACK": "true"}, resolver=resolver)

    stack.forwarder.forward(sample_event("job-1"))
    resolver.answers["hooks.example.test"] = ["127.0.0.1", "::ffff:127.0.0.1"]
    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event("job-2"))

    assert caught.value.code == "blocked_ipv4_mapped"
    assert len(receiver.requests) == 1
    assert resolver.lookups == ["hooks.example.test", "hooks.example.test"]


def test_url_token_stays_out_of_logs(make_stack: Callable[..., Stack], receiver: Receiver,
                                     logs) -> None:  # type: ignore[no-untyped-def]
    token = "tok-0123456789abcdef"
    stack = make_stack([f"https://127.0.0.1:{receiver.port}/hook?token={token}"],
                       {"WEBHOOK_ALLOW_LOOPBACK": "false"})

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event())

    assert token not in str(caught.value)
    assert token not in logs.text
    rows = stack.services.db.query("SELECT * FROM webhook_deliveries")
    assert token not in json.dumps(rows)
