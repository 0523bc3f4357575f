"""The guard's state as JSON (rempart.guard.codec): the bytes written to Redis and to the
memory backend's snapshots are pinned, and built from plain values only, never from
orjson's own reading of a dataclass (which crashes on a mypyc-compiled guard)."""

from __future__ import annotations

import orjson

from rempart.guard import codec
from rempart.guard.decision import Evidence
from rempart.guard.profile import AccountProfile, PendingCheck, SessionState

_ZEROS_30 = b",".join([b"0.0"] * 30)
_HOURS = b",".join([b"0.0"] * 3 + [b"2.25"] + [b"0.0"] * 164)

# Written by orjson's dataclass support before the codec built the dicts itself (main at
# 1b6e92b): a profile, a session and a pending claim saved then must read back, and a
# profile or session saved now must be byte for byte what was saved then.
ACCOUNT = (
    b'{"created":1700000000.5,"last":1700000000.5,"rates":[' + _ZEROS_30 + b'],'
    b'"hours_raw":[' + _HOURS + b'],"hours_ref":1700000000.5,"hours_total_raw":0.0,'
    b'"learned_checks":3,"learned_matched":0,"peak_day":-1,"peaks_today":[0.0,0.0,0.0],'
    b'"peaks_history":[[1.0,2.0,3.0],[0.5,4.0,9.0]],"peaks_high":[0.0,0.0,0.0],'
    b'"volume_cache":[-1.0,0.0,0.0],"devices":{"dev-a":1700000001.0},"blocks":{},'
    b'"networks":{},"sessions":0.0,"new_device_sessions":0.0,"new_block_sessions":0.0,'
    b'"step_ups_asked":0.0,"step_ups_passed":0.0,"step_ups_ts":0.0,'
    b'"tainted":{"b:10.0.0.0/24":1700000002.0},"seen":{},"suspended":false,'
    b'"suspension":["volume","far"],"suspended_keys":["s1"],"keys_with_client":[]}')
NEW_ACCOUNT = (
    b'{"created":5.0,"last":5.0,"rates":[' + _ZEROS_30 + b'],"hours_raw":null,'
    b'"hours_ref":5.0,"hours_total_raw":0.0,"learned_checks":0,"learned_matched":0,'
    b'"peak_day":-1,"peaks_today":[0.0,0.0,0.0],"peaks_history":[],'
    b'"peaks_high":[0.0,0.0,0.0],"volume_cache":[-1.0,0.0,0.0],"devices":{},"blocks":{},'
    b'"networks":{},"sessions":0.0,"new_device_sessions":0.0,"new_block_sessions":0.0,'
    b'"step_ups_asked":0.0,"step_ups_passed":0.0,"step_ups_ts":0.0,"tainted":{},"seen":{},'
    b'"suspended":false,"suspension":[],"suspended_keys":[],"keys_with_client":[]}')
SESSION = (
    b'{"account_id":"acct-1","device":"dev-a","block":"10.0.0.0/24","network":null,'
    b'"started":1700000000.0,"last":1700000010.0,"attempts":2,'
    b'"novelty":[{"feature":"device","bits":3.5,"reason":"new device"}],"fresh":false,'
    b'"foreign_block":false,"young":false,"checks":0,"matched":0,"new":0,"far_known":0,'
    b'"far":0,"far_places":["75","13"],"fail":0,"near":0,"intervals":[1.5,2.0],'
    b'"interval_sum":0.0,"interval_sq":0.0,"near_keys":{"k":[2,1700000003.0]},'
    b'"failed_attempts":{"f":1.0},"step_up_required":false,"step_up_reasons":["r"],'
    b'"rebind":["d2",null,null],"unsettled_failures":0,"unsettled_near":0,'
    b'"origin_sent":false,"credit":0.0,"suspended":false,"max_action":0,"refused":0,'
    b'"last_score":0.0,"pending":[{"feature":"volume","bits":1.25,"reason":"many"}],'
    b'"composition":[],"counts":[1.0,2.0,3.0],"scope":"net:x"}')
PENDING = (b'["acct-1",{"ts":1700000005.0,"new":true,"far":null,"failures":1,'
           b'"near_misses":2,"origin":["dev-a","10.0.0.0/24",null]}]')


def _profile() -> AccountProfile:
    profile = AccountProfile.new(1_700_000_000.5)
    profile.hours_raw = [0.0] * 168
    profile.hours_raw[3] = 2.25
    profile.learned_checks = 3
    profile.peaks_history = ((1.0, 2.0, 3.0), (0.5, 4.0, 9.0))
    profile.devices = {"dev-a": 1_700_000_001.0}
    profile.tainted = {"b:10.0.0.0/24": 1_700_000_002.0}
    profile.suspension = ("volume", "far")
    profile.suspended_keys = ("s1",)
    return profile


def _session() -> SessionState:
    return SessionState(
        account_id="acct-1", device="dev-a", block="10.0.0.0/24", network=None,
        started=1_700_000_000.0, last=1_700_000_010.0, attempts=2,
        novelty=(Evidence("device", 3.5, "new device"),), far_places=("75", "13"),
        intervals=[1.5, 2.0], near_keys={"k": (2, 1_700_000_003.0)},
        failed_attempts={"f": 1.0}, step_up_reasons=("r",), rebind=["d2", None, None],
        pending=(Evidence("volume", 1.25, "many"),), counts=(1.0, 2.0, 3.0), scope="net:x")


def _pending() -> PendingCheck:
    return PendingCheck(ts=1_700_000_005.0, new=True, far=None, failures=1, near_misses=2,
                        origin=("dev-a", "10.0.0.0/24", None))


def test_the_encoding_is_the_one_saved_before() -> None:
    assert codec.dump(_profile()) == ACCOUNT
    assert codec.dump(AccountProfile.new(5.0)) == NEW_ACCOUNT
    assert codec.dump(_session()) == SESSION
    assert codec.dump_pending("acct-1", _pending()) == PENDING


def test_what_was_saved_reads_back_equal() -> None:
    assert codec.load_account(ACCOUNT) == _profile()
    assert codec.load_account(NEW_ACCOUNT) == AccountProfile.new(5.0)
    assert codec.load_session(SESSION) == _session()
    assert codec.load_pending(PENDING) == ("acct-1", _pending())


def test_orjson_is_given_no_dataclass() -> None:
    # OPT_PASSTHROUGH_DATACLASS makes orjson refuse any dataclass it is handed, nested ones
    # included: what the codec builds must go through without it, to the same bytes.
    strict = orjson.OPT_PASSTHROUGH_DATACLASS
    assert orjson.dumps(codec.account_dict(_profile()), option=strict) == ACCOUNT
    assert orjson.dumps(codec.session_dict(_session()), option=strict) == SESSION
    assert orjson.dumps(codec.pending_list("acct-1", _pending()), option=strict) == PENDING
