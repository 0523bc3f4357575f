"""What a drill run is asked to do, validated before anything runs."""

from __future__ import annotations

from dataclasses import dataclass

from rempart.drill.errors import DrillError

SCENARIOS: dict[str, str] = {
    "S1": "password only: a phished password without the second factor",
    "S2": "credential stuffing and password spraying from many addresses",
    "S3": "adversary in the middle: a hijacked full session replayed from elsewhere, fast",
    "S4": "low and slow, in the victim's opening hours",
    "S5": "distributed over many compromised accounts",
    "S6": "probing with guessed dates of birth and member numbers",
    "S7": "a stolen copy of the database without the keys",
    "S8": "tampering with a copy of the audit log",
    "S9": "a DPoP access token copied to another machine, without its private key",
}
MAX_DAYS = 60
MAX_WARMUP_DAYS = 30
MAX_POPULATION = 200_000
MAX_S5_ACCOUNTS = 1_000
# How S5's attacker spreads its hijacked accounts over networks: all on one /24 (one
# rented server range), a handful of /24s (a few servers), or one /24 per account (a
# residential proxy pool or a botnet: what "distributed" means in the threat model).
S5_NETWORKS = ("one", "few", "each")


@dataclass(frozen=True)
class DrillOptions:
    scenarios: tuple[str, ...]
    seed: int = 1
    days: int = 2
    population: int = 2_000
    accounts: int = 24
    baseline: bool = False
    # Days of honest traffic before the attacks begin: a deployed platform has history
    # (0: the attacks start on the platform's first morning, the cold start).
    warmup_days: int = 1
    # S5: hundreds of hijacked accounts (DESIGN.md's threat model), mostly solo practices
    # of the long tail (drill/long_tail.py), and how they are spread over networks.
    s5_accounts: int = 200
    s5_networks: str = "each"


def parse_scenarios(text: str | None) -> tuple[str, ...]:
    """"S1,S3" -> ("S1", "S3"); None -> every scenario. Unknown ids are refused by name."""
    if text is None or not text.strip():
        return tuple(SCENARIOS)
    wanted = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in SCENARIOS]
    if unknown:
        raise DrillError(f"unknown scenario {', '.join(unknown)}; "
                         f"choose among {', '.join(SCENARIOS)}")
    return tuple(dict.fromkeys(wanted))


def make_options(*, scenarios: str | None, seed: int, days: int, population: int,
                 accounts: int, baseline: bool, warmup_days: int = 1,
                 s5_accounts: int = 200, s5_networks: str = "each") -> DrillOptions:
    if not 1 <= days <= MAX_DAYS:
        raise DrillError(f"--days must be between 1 and {MAX_DAYS}")
    if not 50 <= population <= MAX_POPULATION:
        raise DrillError(f"--population must be between 50 and {MAX_POPULATION}")
    if not 4 <= accounts <= 500:
        raise DrillError("--accounts must be between 4 and 500")
    if not 0 <= warmup_days <= MAX_WARMUP_DAYS:
        raise DrillError(f"--warmup-days must be between 0 and {MAX_WARMUP_DAYS}")
    if seed < 0:
        raise DrillError("--seed must be zero or positive")
    if not 2 <= s5_accounts <= MAX_S5_ACCOUNTS:
        raise DrillError(f"--s5-accounts must be between 2 and {MAX_S5_ACCOUNTS}")
    if s5_networks not in S5_NETWORKS:
        raise DrillError(f"--s5-networks must be one of {', '.join(S5_NETWORKS)}")
    return DrillOptions(scenarios=parse_scenarios(scenarios), seed=seed, days=days,
                        population=population, accounts=accounts, baseline=baseline,
                        warmup_days=warmup_days, s5_accounts=s5_accounts,
                        s5_networks=s5_networks)
