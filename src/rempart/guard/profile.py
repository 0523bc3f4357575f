"""The behaviour model's memory: one bounded profile per account, one state per session.

An account profile holds, in a fixed size whatever the traffic:
- for each binary feature (new patient, patient far away, failed match, near miss,
  check never claimed), exponentially weighted counts over three horizons, one flat
  list (rempart.guard.rates);
- an hour-of-week histogram of learnt checks, decaying with a four-week half-life;
- the daily peaks of the last four weeks (for calibrated rate ceilings);
- the devices, address blocks and networks it has used recently.
A new account starts empty and is judged against its peer group's prior, which its
own history outweighs as it accumulates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rempart.guard import rates as rw
from rempart.guard.decision import Evidence
from rempart.guard.peers import HOURS_PER_WEEK, PeerPrior

SESSION_PRIOR_WEIGHT = 20.0  # the peer prior counts as this many sessions (device/network novelty)
HOURS_HALF_LIFE_S = 28 * 86400.0
WEEK_S = 7 * 86400.0
PEAK_DAYS = 28
MAX_DEVICES = 16
MAX_BLOCKS = 32
MAX_NETWORKS = 16
MAX_TAINTED = 32
MAX_SEEN = 16
TAINT_S = 7 * 86400.0
MAX_INTERVALS = 32
MAX_NEAR_KEYS = 64
# An API client's keys suspended by the guard, kept until an operator restores them
# (see AccountProfile.keep_suspended_key): three times the unanswered step-ups
# that suspend a client within a week (LadderPolicy.unresolved_limit).
MAX_SUSPENDED_KEYS = 16
NEAR_MISS_SPAN_S = 1800.0

_HOURS_RATE = math.log(2.0) / HOURS_HALF_LIFE_S
_ZERO_RATES = rw.empty()  # copied per new profile, never changed
_STEP_UP_RATE = math.log(2.0) / (7 * 86400.0)


@dataclass(frozen=True, slots=True)
class PendingCheck:
    """A covered check awaiting its claim, with what the session did since its previous
    covered check. All of it is learnt from only when the claim arrives: a claim is
    the label real care gives for free, and scraping never earns one, so it never
    trains the model (the limits' daily peaks are the one exception)."""

    ts: float
    new: bool
    far: bool | None
    # Checks of the session since its previous covered check: failed, nearly matched.
    failures: int = 0
    near_misses: int = 0
    # The device, block and network of a session's first covered check, to be known.
    origin: tuple[str, str, str | None] | None = None


def _remember(known: dict[str, float], key: str, ts: float, cap: int) -> bool:
    """Mark `key` seen at `ts`; True if it was new. Forgets the stalest beyond `cap`."""
    is_new = key not in known
    known[key] = ts
    if len(known) > cap:
        del known[min(known, key=known.__getitem__)]
    return is_new


@dataclass(slots=True)
class AccountProfile:
    created: float
    last: float
    # The five features' (hits, trials) over three horizons, flat (rempart.guard.rates).
    rates: list[float] = field(default_factory=_ZERO_RATES.copy)  # rw.empty(), one C call
    # None until the first learnt check (most accounts seen once never get one): no
    # list per new account for the cyclic collector to track.
    hours_raw: list[float] | None = None
    hours_ref: float = 0.0
    hours_total_raw: float = 0.0
    learned_checks: int = 0
    learned_matched: int = 0
    peak_day: int = -1
    # Tuples of three floats, replaced whole (a shared constant until the first learnt
    # peak): no list per account for the cyclic collector to scan.
    peaks_today: tuple[float, ...] = (0.0, 0.0, 0.0)
    # The days' peaks, a tuple replaced once a day (the shared () before the first).
    peaks_history: tuple[tuple[float, ...], ...] = ()
    # Element-wise maximum of peaks_history, kept so that ceilings cost three max().
    peaks_high: tuple[float, ...] = (0.0, 0.0, 0.0)
    # (UTC hour, expected checks in the hour, in the 24 h): recomputed once an hour.
    volume_cache: tuple[float, ...] = (-1.0, 0.0, 0.0)
    devices: dict[str, float] = field(default_factory=dict)
    blocks: dict[str, float] = field(default_factory=dict)
    networks: dict[str, float] = field(default_factory=dict)
    sessions: float = 0.0
    new_device_sessions: float = 0.0
    new_block_sessions: float = 0.0
    # Step-ups asked of this account's sessions and passed, decayed over a week.
    step_ups_asked: float = 0.0
    step_ups_passed: float = 0.0
    step_ups_ts: float = 0.0
    # Devices ("d:...") and blocks ("b:...") of sessions asked for a second factor that
    # never gave it, with when: a new session from one of them is asked again at once.
    tainted: dict[str, float] = field(default_factory=dict)
    # Devices ("d:...") and blocks ("b:...") its sessions opened from, confirmed or not,
    # with when first (rempart.guard.campaign.origin_novelty).
    seen: dict[str, float] = field(default_factory=dict)
    suspended: bool = False
    suspension: tuple[str, ...] = ()
    # An API client's (account `client:<id>`) keys, by guard session id, kept beyond the
    # session's idle expiry: those the guard suspended on their own, until an operator
    # restores the key; those refused while the client was suspended, freed by its restore.
    suspended_keys: tuple[str, ...] = ()
    keys_with_client: tuple[str, ...] = ()

    @classmethod
    def new(cls, ts: float) -> AccountProfile:
        return cls(created=ts, last=ts, hours_ref=ts)

    # -- volume: the hour-of-week histogram --------------------------------------------

    def learn_hour(self, ts: float, slot: int) -> None:
        raw = self.hours_raw
        if raw is None:
            raw = self.hours_raw = [0.0] * HOURS_PER_WEEK
        weight = math.exp(_HOURS_RATE * (ts - self.hours_ref))
        if weight > 1e12:  # rescale so the stored weights stay finite
            for i, v in enumerate(raw):
                raw[i] = v / weight
            self.hours_total_raw /= weight
            self.hours_ref, weight = ts, 1.0
        raw[slot] += weight
        self.hours_total_raw += weight

    def expected_volume(self, ts: float, slot: int, prior: PeerPrior) -> tuple[float, float]:
        """(checks usually made in the hour, in the 24 h) ending at `ts`.

        The week's volume is own decayed checks over own decayed exposure, with one
        week of the peer prior mixed in; its shape over the week likewise. The hour
        takes the busiest of its neighbouring slots (opening times drift), and both
        figures have a floor so that an unusual but honest hour (night duty, a cluster of
        customers at a small practice) is not a surprise in itself. Computed once per
        hour of the clock: habits move slowly.
        """
        hour_key = float(ts // 3600)
        cache = self.volume_cache
        if cache[0] == hour_key:
            return cache[1], cache[2]
        scale = math.exp(-_HOURS_RATE * (ts - self.hours_ref))
        total = self.hours_total_raw * scale
        age = max(ts - self.created, 0.0)
        exposure_weeks = -math.expm1(-_HOURS_RATE * age) / _HOURS_RATE / WEEK_S
        weekly = (total + prior.weekly_checks) / (exposure_weeks + 1.0)
        mass = total + prior.weekly_checks

        raw = self.hours_raw
        if total == 0.0 or raw is None:
            # Nothing learnt yet (a new account): the shape is the peer group's.
            hour = weekly * prior.hour_peak[slot]
            day = weekly * prior.day_share[slot]
        else:
            def share(s: int) -> float:
                s %= HOURS_PER_WEEK
                return (raw[s] * scale + prior.weekly_checks * prior.shape[s]) / mass

            hour = weekly * max(share(slot - 1), share(slot), share(slot + 1))
            day = weekly * sum(share(slot - i) for i in range(24))
        # Floors: a quarter of the round-the-clock average, and for the hour an eighth of
        # the peer group's busiest hour (a low-volume practice has honest clusters).
        hour_floor = max(0.25 * weekly / HOURS_PER_WEEK, prior.per_hour / 8.0)
        result = max(hour, hour_floor), max(day, 0.25 * weekly / 7.0)
        self.volume_cache = (hour_key, *result)
        return result

    # -- calibrated ceilings: daily peaks ----------------------------------------------

    def learn_peaks(self, day: int, minute: float, hour: float, whole_day: float) -> None:
        if day != self.peak_day:
            if self.peak_day >= 0 and any(self.peaks_today):
                self.peaks_history = (*self.peaks_history, self.peaks_today)[-PEAK_DAYS:]
                self.peaks_high = tuple(max(r[i] for r in self.peaks_history) for i in range(3))
            self.peak_day = day
            self.peaks_today = (0.0, 0.0, 0.0)
        today = self.peaks_today
        self.peaks_today = (max(today[0], minute), max(today[1], hour), max(today[2], whole_day))

    def own_peaks(self) -> tuple[float, float, float]:
        """The highest minute (one session), hour and day of the last four weeks."""
        high, today = self.peaks_high, self.peaks_today
        return (max(high[0], today[0]), max(high[1], today[1]), max(high[2], today[2]))

    # -- devices and networks ----------------------------------------------------------

    def learn_session(self, device: str, block: str, network: str | None, ts: float) -> None:
        """Count a session that was allowed to work, and remember where it came from."""
        seasoned = self.sessions >= 1.0
        new_device = _remember(self.devices, device, ts, MAX_DEVICES)
        new_block = _remember(self.blocks, block, ts, MAX_BLOCKS)
        if network:
            _remember(self.networks, network, ts, MAX_NETWORKS)
        if seasoned:
            self.new_device_sessions += new_device
            self.new_block_sessions += new_block
        self.sessions += 1.0

    def novelty_rates(self, prior: PeerPrior) -> tuple[float, float]:
        """How often this account's sessions come from a new device, a new block."""
        n = self.sessions + SESSION_PRIOR_WEIGHT
        return ((self.new_device_sessions + SESSION_PRIOR_WEIGHT * prior.new_device) / n,
                (self.new_block_sessions + SESSION_PRIOR_WEIGHT * prior.new_block) / n)

    def note_step_up(self, ts: float, *, passed: bool) -> None:
        decay = math.exp(-max(ts - self.step_ups_ts, 0.0) * _STEP_UP_RATE)
        self.step_ups_asked *= decay
        self.step_ups_passed *= decay
        self.step_ups_ts = ts
        if passed:
            self.step_ups_passed += 1.0
        else:
            self.step_ups_asked += 1.0

    def taint(self, ts: float, *, device: str | None = None, block: str | None = None) -> None:
        if device is not None:
            _remember(self.tainted, "d:" + device, ts, MAX_TAINTED)
        if block is not None:
            _remember(self.tainted, "b:" + block, ts, MAX_TAINTED)

    def note_seen(self, device: str, block: str, ts: float) -> None:
        """Remember when a session first opened from this device and block. The first
        time is kept, and beyond MAX_SEEN the newest other entry goes: many new devices
        in a row (a thief's) must not push out the ones the account has long used."""
        seen = self.seen
        for key in ("d:" + device, "b:" + block):
            if key not in seen:
                if len(seen) >= MAX_SEEN:
                    del seen[max(seen, key=seen.__getitem__)]
                seen[key] = ts

    def untaint(self, device: str, block: str) -> None:
        self.tainted.pop("d:" + device, None)
        self.tainted.pop("b:" + block, None)

    def is_tainted(self, device: str, block: str, ts: float) -> bool:
        for key in ("d:" + device, "b:" + block):
            when = self.tainted.get(key)
            if when is not None and ts - when < TAINT_S:
                return True
        return False

    def unresolved_step_ups(self, ts: float) -> float:
        """Step-ups asked and never passed lately: sessions an attacker abandoned."""
        if self.step_ups_asked <= self.step_ups_passed:
            return 0.0  # what the product below gives, without its exp (nearly every call)
        decay = math.exp(-max(ts - self.step_ups_ts, 0.0) * _STEP_UP_RATE)
        return max(self.step_ups_asked - self.step_ups_passed, 0.0) * decay

    def forget_recent(self) -> None:
        rw.forget_recent(self.rates)

    def keep_suspended_key(self, session_id: str) -> bool:
        """Keep an API key's suspension (its guard session id) until an operator restores
        the key. Beyond MAX_SUSPENDED_KEYS the oldest is let go and True returned: the
        caller suspends the client as a whole, so that no key is ever freed unseen."""
        kept = self.suspended_keys
        if session_id in kept:
            return False
        kept = (*kept, session_id)
        self.suspended_keys = kept[-MAX_SUSPENDED_KEYS:]
        return len(kept) > MAX_SUSPENDED_KEYS

    def discount(self, session: SessionState) -> None:
        """A contained session's checks no longer count in the account's recent windows:
        they are evidence against that session (and its device and network, tainted),
        not against the account's other sessions, which are judged on their own."""
        rates = self.rates
        rw.discount(rates, rw.NEW, session.new, session.matched)
        rw.discount(rates, rw.FAR, session.far, session.far_known)
        rw.discount(rates, rw.FAIL, session.fail, session.checks)
        rw.discount(rates, rw.NEAR_MISS, session.near, session.checks)


@dataclass(slots=True)
class SessionState:
    account_id: str
    device: str
    block: str
    network: str | None
    started: float
    last: float
    attempts: int = 0
    # Tuples, () when empty (nearly always): no list allocated and tracked by the cyclic
    # collector per session for evidence that is nearly never there.
    novelty: tuple[Evidence, ...] = ()
    # Opened on an account already known, from a device or block it has not confirmed
    # (see rempart.guard.campaign); and whether the block is new to the account.
    fresh: bool = False
    foreign_block: bool = False
    # Opened on an account with no device or network of its own yet (campaign.young).
    young: bool = False
    checks: int = 0
    matched: int = 0
    new: int = 0
    far_known: int = 0
    far: int = 0
    # The départements its far-away patients live in (at most campaign.MAX_PLACES): a
    # practice's come from a few places, a leaked national list's from everywhere.
    far_places: tuple[str, ...] = ()
    fail: int = 0
    near: int = 0
    # None until a second attempt: most sessions a server sees make one check.
    intervals: list[float] | None = None
    interval_sum: float = 0.0
    interval_sq: float = 0.0
    near_keys: dict[str, tuple[int, float]] = field(default_factory=dict)
    # The details of this session's checks that matched no one (opaque keys), with when.
    failed_attempts: dict[str, float] = field(default_factory=dict)
    step_up_required: bool = False
    step_up_reasons: tuple[str, ...] = ()
    # Device/block/network the session moved to, adopted once the user steps up.
    rebind: list[str | None] | None = None
    # Failed and nearly matched checks not yet attached to a covered check.
    unsettled_failures: int = 0
    unsettled_near: int = 0
    origin_sent: bool = False
    credit: float = 0.0
    suspended: bool = False
    max_action: int = 0
    refused: int = 0
    last_score: float = 0.0
    # Evidence from the last before_check (volume, timing), reused by after_lookup.
    pending: tuple[Evidence, ...] = ()
    # Evidence about the session's patients, from its last lookup.
    composition: tuple[Evidence, ...] = ()
    # Sliding counts at the last before_check: session minute, account hour, account day.
    counts: tuple[float, ...] = ()
    # Its latest check's scope on a listed shared network (CheckKeys.scope), else None:
    # what its block's distrust and campaign counts are keyed by.
    scope: str | None = None

    @property
    def wide(self) -> str:
        """What the network-wide counts of this session are keyed by (CheckKeys.wide)."""
        return self.scope or self.block

    def note_attempt(self, ts: float, max_gap: float) -> None:
        """Record the interval since the previous attempt (pauses longer than `max_gap`,
        a lunch break, are not part of the rhythm)."""
        if self.attempts:
            gap = ts - self.last
            if 0.0 <= gap <= max_gap:
                intervals = self.intervals
                if intervals is None:
                    intervals = self.intervals = []
                intervals.append(gap)
                self.interval_sum += gap
                self.interval_sq += gap * gap
                if len(intervals) > MAX_INTERVALS:
                    old = intervals.pop(0)
                    self.interval_sum -= old
                    self.interval_sq -= old * old
        self.attempts += 1
        self.last = max(self.last, ts)

    def is_retry(self, attempt_key: str | None, ts: float) -> bool:
        """Whether a check that matched no one (or nearly) sends details this session
        already sent within NEAR_MISS_SPAN_S: a user retrying, who learns nothing new and
        is not checking another person. Records the details otherwise."""
        if attempt_key is None:
            return False
        seen = self.failed_attempts.get(attempt_key)
        if seen is not None and ts - seen <= NEAR_MISS_SPAN_S:
            return True
        self.failed_attempts[attempt_key] = ts
        if len(self.failed_attempts) > MAX_NEAR_KEYS:
            del self.failed_attempts[next(iter(self.failed_attempts))]
        return False

    def note_near_miss(self, person_key: str, ts: float, *, retry: bool = False) -> int:
        """How many times this person nearly matched in this session with different
        details within NEAR_MISS_SPAN_S: a prober guesses in quick succession; an old card
        mistyped at each monthly visit is not a probe, and neither is a retry."""
        count, first = self.near_keys.get(person_key, (0, ts))
        if ts - first > NEAR_MISS_SPAN_S:
            count, first = 0, ts
        if retry and count:
            return count
        self.near_keys[person_key] = (count + 1, first)
        if len(self.near_keys) > MAX_NEAR_KEYS:
            del self.near_keys[next(iter(self.near_keys))]
        return count + 1
