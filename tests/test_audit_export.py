"""Checkpoint copies out of the database's reach: a file, a webhook, and verify against them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from audit_support import AuditBed, make_bed, tamper
from rempart.audit import (
    AuditFileError,
    Checkpoint,
    ExportConflict,
    SigningKey,
    TrustedKeys,
    WebhookExporter,
    WebhookFailed,
    export_to_file,
    read_checkpoint_file,
)
from rempart.audit.export import stored_checkpoints
from rempart.runtime import Runtime

KEY = SigningKey.generate()
TRUSTED = TrustedKeys([KEY.verify_key])


def _signed(number: int, first: int, last: int) -> Checkpoint:
    return Checkpoint(number=number, first=first, last=last, root=bytes([number]) * 32,
                      last_entry_hash=bytes([last % 256]) * 32,
                      created_at_us=1_700_000_000_000_000 + number).signed(KEY)


CHECKPOINTS = [_signed(1, 1, 10), _signed(2, 11, 20), _signed(3, 21, 25)]


@pytest.fixture
def bed(runtime: Runtime) -> Iterator[AuditBed]:
    bed = make_bed(runtime)
    try:
        yield bed
    finally:
        bed.log.close()


# -- the file ------------------------------------------------------------------

def test_export_appends_only_what_the_file_lacks(tmp_path: Path) -> None:
    path = tmp_path / "copy" / "checkpoints.jsonl"
    assert export_to_file(path, CHECKPOINTS[:2]) == 2
    assert export_to_file(path, CHECKPOINTS[:2]) == 0
    assert export_to_file(path, CHECKPOINTS) == 1
    assert read_checkpoint_file(path, TRUSTED) == CHECKPOINTS
    assert len(path.read_bytes().splitlines()) == 3


def test_export_refuses_to_extend_a_copy_that_disagrees(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.jsonl"
    export_to_file(path, CHECKPOINTS[:2])
    rewritten = [CHECKPOINTS[0], _signed(2, 11, 19), _signed(3, 20, 25)]
    with pytest.raises(ExportConflict, match="checkpoint 2"):
        export_to_file(path, rewritten)
    assert read_checkpoint_file(path) == CHECKPOINTS[:2]


def _write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(("content", "words"), [
    ([b"\x00\xff garbage"], "line 1: not valid JSON"),
    ([orjson.dumps(CHECKPOINTS[0].to_json()), b'{"format": "rempart-audit-checkpoint/1"'],
     "line 2: not valid JSON"),
    ([b'{"format": "something-else"}'], "line 1: not a rempart-audit-checkpoint/1 record"),
    ([orjson.dumps({**CHECKPOINTS[0].to_json(), "root": "abc"})], "line 1: field 'root'"),
    ([orjson.dumps({**CHECKPOINTS[0].to_json(), "signature": "!!"})], "field 'signature'"),
    ([orjson.dumps({**CHECKPOINTS[0].to_json(), "last": 11})], "invalid signature"),
    ([orjson.dumps(CHECKPOINTS[0].to_json()), orjson.dumps(CHECKPOINTS[2].to_json())],
     "line 2: checkpoint 3 follows 1"),
])
def test_an_unreadable_checkpoint_file_gives_a_clear_error(
        tmp_path: Path, content: list[bytes], words: str) -> None:
    path = _write_lines(tmp_path / "checkpoints.jsonl", content)
    with pytest.raises(AuditFileError, match=words):
        read_checkpoint_file(path, TRUSTED)


def test_a_missing_or_unopenable_file_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditFileError, match="does not exist"):
        read_checkpoint_file(tmp_path / "nowhere.jsonl")
    with pytest.raises(AuditFileError, match="cannot be read"):
        read_checkpoint_file(tmp_path)


# -- verify against the copy ----------------------------------------------------

def test_only_the_exported_copy_reveals_a_dropped_last_checkpoint(
        bed: AuditBed, tmp_path: Path) -> None:
    """Deleting the newest checkpoint with the entries it covers leaves a chain that is
    consistent on its own; the copy kept elsewhere shows what is gone."""
    bed.fill(30)
    bed.checkpoint()
    path = tmp_path / "checkpoints.jsonl"
    export_to_file(path, stored_checkpoints(bed.engine, bed.trusted))
    twenty = bed.row(20)["entry_hash"]
    engine = tamper(
        bed,
        ("DELETE FROM audit_checkpoints WHERE number = 3", {}),
        ("DELETE FROM audit_entries WHERE position > 20", {}),
        ("UPDATE audit_head SET position = 20, entry_hash = :h", {"h": twenty}),
    )
    copy = read_checkpoint_file(path, bed.trusted)
    assert bed.verify(engine).ok
    report = bed.verify(engine, exported=copy)
    assert report.first_bad_position == 21
    assert "checkpoint 3 of the exported copy is missing" in report.problems[0].message
    if engine is not bed.engine:  # SQLite: the untouched original agrees with the copy
        assert bed.verify(exported=copy).ok


def test_export_refuses_checkpoints_that_do_not_verify(bed: AuditBed) -> None:
    bed.fill(12)
    bed.checkpoint()
    engine = tamper(bed, ("UPDATE audit_checkpoints SET root = :r WHERE number = 2",
                          {"r": bytes(32)}))
    with pytest.raises(ExportConflict, match="first bad position 11"):
        stored_checkpoints(engine, bed.trusted)


# -- the webhook ------------------------------------------------------------------

class Receiver:
    """A webhook endpoint behind httpx's injectable transport, answering from a script."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.content)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)


def test_the_webhook_is_retried_with_backoff_until_accepted() -> None:
    receiver = Receiver(503, httpx.ConnectError("refused"), 200)
    pauses: list[float] = []
    WebhookExporter(url="https://copy.example/hook", transport=httpx.MockTransport(receiver),
                    backoff_s=0.5, sleep=pauses.append).send(CHECKPOINTS)
    assert pauses == [0.5, 1.0]
    assert len(receiver.bodies) == 3
    body = orjson.loads(receiver.bodies[-1])
    received = [Checkpoint.from_json(doc) for doc in body["checkpoints"]]
    assert received == CHECKPOINTS
    assert all(TRUSTED.problem_with(c.key_id, c.statement(), c.signature) is None
               for c in received)


def test_a_webhook_that_keeps_failing_is_an_error_that_hides_its_token() -> None:
    receiver = Receiver(503, 503, 503)
    with pytest.raises(WebhookFailed) as caught:
        WebhookExporter(url="https://copy.example/hook?token=s3cret", attempts=3,
                        transport=httpx.MockTransport(receiver), sleep=lambda _: None,
                        ).send(CHECKPOINTS)
    assert "HTTP 503" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert len(receiver.bodies) == 3


def test_a_webhook_refusal_is_not_retried() -> None:
    receiver = Receiver(400, 200)
    with pytest.raises(WebhookFailed, match="HTTP 400"):
        WebhookExporter(url="https://copy.example/hook", transport=httpx.MockTransport(receiver),
                        sleep=lambda _: None).send(CHECKPOINTS)
    assert len(receiver.bodies) == 1
