"""`rempart insurers`: the insurers' keys for member links (docs/member-history.md).

`add-key`, `keys` and `revoke-key` manage the public keys rempart trusts; `sign-link`
does what an insurer's member area does, for tests and demonstrations. The member
number is read from the terminal without echo and the link is written to a file (mode
600): a link carries a member number, which has no place on a screen or in a shell
history.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from rempart.audit import AuditLog
from rempart.cli.common import DataDirOption, domain_errors, load_settings
from rempart.clock import SystemClock
from rempart.member.errors import InsurerKeyError
from rempart.member.insurer_keys import InsurerKeys
from rempart.member.links import DEFAULT_LIFETIME_S, MAX_LIFETIME_S, sign_member_link
from rempart.response.output import write_private_file
from rempart.runtime import Runtime

app = typer.Typer(help="Insurers' keys for member links.", no_args_is_help=True)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InsurerKeyError(f"{what} {path} cannot be read ({exc.strerror})") from None


@app.command("add-key")
def add_key(
    amc: Annotated[str, typer.Option("--amc", help="The insurer's AMC number.")],
    public_key: Annotated[Path, typer.Option("--public-key", dir_okay=False,
                                             help="The insurer's Ed25519 public key (PEM).")],
    data_dir: DataDirOption = None,
) -> None:
    """Trust links signed with this key for this insurer (recorded in the audit log)."""
    settings = load_settings(data_dir)
    with domain_errors():
        pem = _read(public_key, "public key file")
        with Runtime.open(settings) as runtime, \
                AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
            key_id = InsurerKeys(engine=runtime.engine, clock=runtime.clock,
                                 audit=audit).add(amc=amc, public_key_pem=pem)
    typer.echo(f"added key {key_id} for insurer {amc}; links must name it as their kid")


@app.command("keys")
def keys(
    amc: Annotated[str | None, typer.Option("--amc", help="Only this insurer's keys.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the link keys, revoked ones included."""
    settings = load_settings(data_dir)
    with domain_errors(), Runtime.open(settings) as runtime, \
            AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        found = InsurerKeys(engine=runtime.engine, clock=runtime.clock, audit=audit).list(amc=amc)
    for info in found:
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        typer.echo(f"{info.key_id}  insurer {info.insurer_amc}  added "
                   f"{info.added_at:%Y-%m-%d %H:%M}  {state}")
    if not found:
        typer.echo("no link keys")


@app.command("revoke-key")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key id (16 hex digits).")],
    data_dir: DataDirOption = None,
) -> None:
    """Stop trusting a key at once (recorded in the audit log)."""
    settings = load_settings(data_dir)
    with domain_errors(), Runtime.open(settings) as runtime, \
            AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        InsurerKeys(engine=runtime.engine, clock=runtime.clock,
                    audit=audit).revoke(key_id=key_id)
    typer.echo(f"revoked key {key_id}")


@app.command("sign-link")
def sign_link(
    amc: Annotated[str, typer.Option("--amc", help="The insurer's AMC number.")],
    private_key: Annotated[Path, typer.Option(
        "--private-key", dir_okay=False, help="The insurer's Ed25519 private key (PEM).")],
    out: Annotated[Path, typer.Option("--out", dir_okay=False,
                                      help="New file for the link (mode 600).")],
    lifetime: Annotated[int, typer.Option("--lifetime", min=1, max=MAX_LIFETIME_S,
                                          help="Seconds the link works.")] = DEFAULT_LIFETIME_S,
) -> None:
    """Sign a member link as an insurer would (testing); asks for the member number."""
    with domain_errors():
        pem = _read(private_key, "private key file")
        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise InsurerKeyError("the private key file is not an unencrypted PEM key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InsurerKeyError("the private key is not an Ed25519 key")
        member = typer.prompt("member number", hide_input=True).strip()
        if not member:
            raise InsurerKeyError("no member number given")
        now = SystemClock().now()
        token = sign_member_link(private_key=key, amc=amc, member_number=member, now=now,
                                 lifetime_s=lifetime)
        write_private_file(out, token.encode("ascii"))
    expires = now + dt.timedelta(seconds=lifetime)
    typer.echo(f"wrote the link to {out}; it works once, until {expires:%Y-%m-%d %H:%M:%S} UTC")
