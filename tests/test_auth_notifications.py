"""Login alerts from new devices: the outbox table, and its delivery over real SMTP."""

from __future__ import annotations

import email
import socket
import socketserver
import threading
from collections.abc import Iterator
from email.message import Message

import pytest

from auth_support import (
    BACKENDS,
    OTHER_BROWSER,
    PASSWORD,
    AuthEnv,
    SoftAuthenticator,
    fresh,
    shared_env,
    totp_now,
)
from rempart.auth.mail import OutboxDispatcher, SmtpMailSender
from rempart.auth.outbox import NotificationKind


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to receive a message."""

    def handle(self) -> None:
        received: list[Message] = self.server.received  # type: ignore[attr-defined]
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 test\r\n")
            elif command.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                self.wfile.write(b"250 ok\r\n")
            elif command == "DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                received.append(email.message_from_bytes(data))
                self.wfile.write(b"250 queued\r\n")
            elif command == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 no\r\n")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[Message]]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alerts(env: AuthEnv, account_id: int) -> list[dict[str, str]]:
    return [m.payload for m in env.auth.outbox.for_account(account_id)
            if m.kind is NotificationKind.NEW_DEVICE_LOGIN]


def test_a_login_from_a_new_device_alerts_the_owner(env: AuthEnv) -> None:
    account_id, email_address = env.account()
    desk, secret, _ = env.with_totp(email_address)
    assert alerts(env, account_id) == []  # the very first device is no news

    env.clock.advance(60)
    laptop = env.client(address="203.0.113.40", agent=OTHER_BROWSER)
    pending = env.auth.login.password_login(login=email_address, password=PASSWORD,
                                            client=laptop)
    laptop = env.client(address="203.0.113.40", agent=OTHER_BROWSER,
                        device=pending.session.device_token)
    env.auth.second_factor.complete_totp(session_token=pending.session.token, client=laptop,
                                         code=totp_now(secret, env.clock))
    [alert] = alerts(env, account_id)
    assert alert["device"] == "Firefox on Linux"
    assert alert["address"] == "203.0.113.40"

    # the desk browser logs in again: it is known, no alert
    env.clock.advance(60)
    again = env.auth.login.password_login(
        login=email_address, password=PASSWORD,
        client=env.client(device=desk.device_token))
    env.auth.second_factor.complete_totp(session_token=again.session.token,
                                         client=env.client(device=desk.device_token),
                                         code=totp_now(secret, env.clock))
    assert len(alerts(env, account_id)) == 1
    assert [d.label for d in env.auth.devices.for_account(account_id)] == [
        "Chrome on Windows", "Firefox on Linux"]


def test_a_passkey_login_from_a_new_device_alerts_too(env: AuthEnv) -> None:
    account_id, email_address = env.account()
    pending = env.auth.login.password_login(login=email_address, password=PASSWORD,
                                            client=env.client())
    desk = env.client(device=pending.session.device_token)
    authenticator = SoftAuthenticator()
    ceremony = env.auth.enrolment.begin_passkey(session_token=pending.session.token,
                                                client=desk)
    env.auth.enrolment.finish_passkey(session_token=pending.session.token, client=desk,
                                      ceremony_id=ceremony.ceremony_id,
                                      credential=authenticator.create(ceremony.options_json),
                                      label="desk key")
    assert alerts(env, account_id) == []
    ceremony = env.auth.login.begin_passkey_login()
    env.auth.login.finish_passkey_login(
        ceremony_id=ceremony.ceremony_id, credential=authenticator.get(ceremony.options_json),
        client=env.client(address="203.0.113.41", agent=OTHER_BROWSER))
    assert [a["address"] for a in alerts(env, account_id)] == ["203.0.113.41"]


def test_adding_a_factor_tells_the_owner(env: AuthEnv) -> None:
    account_id, email_address = env.account()
    session, _, _ = env.with_totp(email_address)
    client = env.client(device=session.device_token)
    ceremony = env.auth.enrolment.begin_passkey(session_token=session.token, client=client)
    env.auth.enrolment.finish_passkey(session_token=session.token, client=client,
                                      ceremony_id=ceremony.ceremony_id,
                                      credential=SoftAuthenticator().create(
                                          ceremony.options_json), label="phone")
    added = [m for m in env.auth.outbox.for_account(account_id)
             if m.kind is NotificationKind.FACTOR_ADDED]
    assert [m.payload["method"] for m in added] == ["passkey"]


def test_the_dispatcher_delivers_over_smtp_and_marks_messages_sent(
        env: AuthEnv, smtp_server: tuple[int, list[Message]]) -> None:
    port, received = smtp_server
    account_id, email_address = env.account()
    env.auth.outbox.enqueue(account_id=account_id, recipient=email_address,
                            kind=NotificationKind.NEW_DEVICE_LOGIN,
                            payload={"at": "2026-03-02 10:00", "device": "Firefox on Linux",
                                     "address": "203.0.113.40"})
    dispatcher = OutboxDispatcher(outbox=env.auth.outbox,
                                  sender=SmtpMailSender(host="127.0.0.1", port=port),
                                  mail_from="rempart <no-reply@localhost>")
    report = dispatcher.deliver(limit=10_000)
    assert report.failed == 0
    assert report.sent >= 1
    mine = [m for m in received if m["To"] == email_address]
    assert len(mine) == 1
    body = mine[0].get_payload(decode=True).decode()
    assert "Firefox on Linux" in body
    assert "Nouvelle connexion" in mine[0]["Subject"]
    assert "http" not in body  # an alert carries no link: a phishing copy stands out
    assert all(m.sent_at is not None for m in env.auth.outbox.for_account(account_id))
    assert dispatcher.deliver().sent == 0  # nothing is sent twice


def test_a_failing_relay_is_retried_then_given_up(env: AuthEnv) -> None:
    account_id, email_address = env.account()
    outbox = env.auth.outbox
    for entry in outbox.pending(limit=10_000):  # earlier tests' messages are not ours
        outbox.mark_sent(entry.id)
    outbox.enqueue(account_id=account_id, recipient=email_address,
                   kind=NotificationKind.FACTOR_ADDED, payload={"method": "totp", "at": "now"})
    dispatcher = OutboxDispatcher(outbox=outbox,
                                  sender=SmtpMailSender(host="127.0.0.1", port=closed_port(),
                                                        timeout=2),
                                  mail_from="rempart <no-reply@localhost>", max_attempts=3)
    reports = [dispatcher.deliver() for _ in range(4)]
    assert [(r.sent, r.failed) for r in reports] == [(0, 1), (0, 1), (0, 1), (0, 0)]
    [entry] = outbox.for_account(account_id)
    assert entry.attempts == 3
    assert entry.sent_at is None
