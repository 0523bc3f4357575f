"""`rempart bench`: benchmarks that print figures as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from rempart.cli import scope_bench_cmd
from rempart.cli.common import console, domain_errors

app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
app.command("scope")(scope_bench_cmd.bench_scope)


@app.command("import")
def bench_import(
    people: Annotated[int, typer.Option("--people", min=1, help="Persons to generate.")],
    seed: Annotated[int, typer.Option("--seed", help="Population seed.")] = 1,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="PostgreSQL server URL: a fresh database is created on it "
                               "and dropped after. Default: a temporary SQLite file.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=0, help="Worker processes that validate and seal "
                                 "(default: one if the machine has a second core).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Generate N persons, import them for real, and compare with a plain insert."""
    from rempart.bench.import_bench import run_import_bench
    from rempart.ingest.service import DEFAULT_WORKERS

    with domain_errors():
        figures = run_import_bench(
            people=people, seed=seed, database_url=database_url,
            workers=DEFAULT_WORKERS if workers is None else workers,
            on_stage=lambda text: console.print(f"bench: {text}"))
    if as_json:
        typer.echo(orjson.dumps(figures.as_dict()).decode())
        return
    for name, value in figures.as_dict().items():
        typer.echo(f"{name:>20}: {value}")


@app.command("checks")
def bench_checks(
    people: Annotated[int, typer.Option("--people", min=1, help="Persons in the instance "
                                        "(built once, then cached).")] = 1_000_000,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=8,
        help="Server worker processes (1 measured best on SQLite: docs/performance.md).",
    )] = 1,
    seconds: Annotated[float, typer.Option(
        "--seconds", min=0.5, max=600,
        help="Measured seconds per phase, over all its slices.")] = 10.0,
    warmup: Annotated[float, typer.Option(
        "--warmup", min=0, max=60,
        help="Unmeasured seconds of load per phase before the first slice.")] = 2.0,
    rounds: Annotated[int, typer.Option(
        "--rounds", min=1, max=20,
        help="Rounds of alternating slices, each a pass over the phases and the same pass "
             "backwards: 2 x rounds slices per phase.")] = 5,
    slice_warmup: Annotated[float, typer.Option(
        "--slice-warmup", min=0, max=30,
        help="Unmeasured seconds at the start of every slice.")] = 0.5,
    connections: Annotated[int, typer.Option("--connections", min=1, max=1024,
                                             help="Concurrent keep-alive connections.")] = 32,
    server: Annotated[str, typer.Option("--server", help="uvicorn or granian.")] = "uvicorn",
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="PostgreSQL server URL: the instance's database is created "
                               "on it once and kept. Default: SQLite.")] = None,
    database_name: Annotated[str | None, typer.Option(
        "--database-name", help="The instance's database on that server (default "
                                "rempart_bench_checks_<people>).")] = None,
    redis_url: Annotated[str | None, typer.Option(
        "--redis-url", help="Put the servers' shared state (guard, throttling) in this "
                            "Redis, under a key prefix of the run's own, deleted at the "
                            "end.")] = None,
    compare_embedded: Annotated[bool, typer.Option(
        "--compare-embedded", help="Also measure the checks on the embedded default "
                                   "(SQLite, 1 worker, state in memory) over the same "
                                   "population, in turn with the others: embedded_ratio "
                                   "(needs --database-url or --redis-url).")] = False,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Where bench instances are cached (default <tmp>/rempart-bench).",
    )] = None,
    audit_off: Annotated[bool, typer.Option(
        "--audit-off", help="Also measure the checks with the audit log off (a second "
                            "server, loaded in turn with the first): audit_on_off_ratio.",
    )] = False,
    auth: Annotated[bool, typer.Option(
        "--auth", help="Also measure the checks sent by the practices' API clients (one "
                       "per bench organisation, 20,000, registered once with the "
                       "instance), DPoP-bound tokens and a fresh proof each, on the "
                       "default server (guard on) beside its demo-identity checks, "
                       "after one unmeasured check per client (auth_first_contact): "
                       "checks_authenticated_per_s, _p50_ms, _p99_ms, _non_2xx, "
                       "auth_cost_ratio; and the same clients asking the token endpoint "
                       "for tokens (client credentials, a DPoP proof each), in turn with "
                       "the checks: tokens_per_s, token_p50_ms, token_p99_ms, "
                       "token_non_2xx, token_server_cpu_us.")] = False,
    guard_off: Annotated[bool, typer.Option(
        "--guard-off", help="Also measure the checks with the exfiltration guard off (a "
                            "server of its own, loaded in turn with the others): "
                            "guard_on_off_ratio.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Checks per second over real HTTP, against the bare look-up, in alternating slices."""
    from rempart.bench.checks_bench import BenchOptions, run_checks_bench
    from rempart.bench.dpop_requests import with_authentication

    options = BenchOptions(people=people, workers=workers, seconds=seconds, warmup=warmup,
                           connections=connections, server=server, rounds=rounds,
                           slice_warmup=slice_warmup, database_url=database_url,
                           database_name=database_name, redis_url=redis_url,
                           data_dir=data_dir)
    if audit_off:
        options = options.with_audit_off()
    if auth:
        options = with_authentication(options)
    if guard_off:
        options = options.with_guard_off()
    with domain_errors():
        if compare_embedded:
            options = options.with_embedded()
        figures = run_checks_bench(options, on_stage=lambda text: console.print(f"bench: {text}"))
    if as_json:
        typer.echo(orjson.dumps(figures).decode())
        return
    for name, value in figures.items():
        if name not in ("phases", "slices"):
            typer.echo(f"{name:>22}: {value}")
    for name, phase in figures["phases"].items():
        typer.echo(f"{name:>22}: {orjson.dumps(phase).decode()}")


@app.command("middleware")
def bench_middleware(
    requests: Annotated[int, typer.Option("--requests", min=100,
                                          help="Requests per round and side.")] = 20_000,
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=50,
                                        help="Alternating rounds (the median counts).")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The edge layer's cost (request id, body cap, security headers, latency metrics)
    in µs per request, measured in process."""
    from rempart.bench.middleware_bench import run_middleware_bench

    figures = run_middleware_bench(requests=requests, rounds=rounds)
    if as_json:
        typer.echo(orjson.dumps(figures.as_dict()).decode())
        return
    for name, value in figures.as_dict().items():
        typer.echo(f"{name:>20}: {value}")
