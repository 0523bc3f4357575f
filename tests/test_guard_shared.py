"""The operator's list of shared networks (rempart.guard.shared): checked at start-up,
each mistake named; and what a listed network's checks are counted by."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.guard import GuardConfigError, GuardSettings, codec
from rempart.guard.profile import SessionState
from rempart.guard.shared import SETTING, SharedNetworks, load_file, parse_entries
from rempart.settings import Settings

GOOD = """
[[network]]
label = "hosted-software"
cidrs = ["192.0.2.0/24", "2001:db8:40::/48"]

[[network]]
label = "hospital-group"
cidrs = ["198.51.100.0/25"]
organisations = ["17", 18]
"""


def _one(*cidrs: str, **extra: object) -> SharedNetworks:
    return parse_entries({"network": [{"label": "n", "cidrs": list(cidrs), **extra}]})


def test_a_listed_network_is_counted_per_organisation() -> None:
    listed = parse_entries({"network": [
        {"label": "hosted", "cidrs": ["192.0.2.0/24", "2001:db8:40::/48"]},
        {"label": "group", "cidrs": ["198.51.100.0/25"], "organisations": ["17", 18]}]})
    assert listed.scope("192.0.2.9", 4) == "shared:hosted:org:4"
    assert listed.scope("192.0.2.200", "5") == "shared:hosted:org:5"
    assert listed.scope("::ffff:192.0.2.9", 4) == "shared:hosted:org:4"
    assert listed.scope("2001:db8:40:7::1", 4) == "shared:hosted:org:4"
    # Outside every entry, or not an address: the address block, as ever.
    assert listed.scope("192.0.3.9", 4) is None
    assert listed.scope("2001:db8:41::1", 4) is None
    assert listed.scope("testclient", 4) is None
    # An entry that names its organisations scopes only theirs.
    assert listed.scope("198.51.100.3", 17) == "shared:group:org:17"
    assert listed.scope("198.51.100.3", "18") == "shared:group:org:18"
    assert listed.scope("198.51.100.3", 19) is None
    assert listed.scope("198.51.100.200", 17) is None  # the /25's other half


@pytest.mark.parametrize(("cidrs", "message"), [
    (["192.0.2.300/24"], "'192.0.2.300/24' is not a CIDR network"),
    (["hosted"], "'hosted' is not a CIDR network"),
    (["192.0.2.1/24"], r"host bits set \(the network is 192.0.2.0/24\)"),
    (["0.0.0.0/0"], r"too wide \(a /0; at most a /16 for IPv4\)"),
    (["10.0.0.0/8"], r"too wide \(a /8"),
    (["::/0"], r"too wide \(a /0; at most a /32 for IPv6\)"),
    (["2001:db8::/31"], "too wide"),
    (["192.0.2.0/24", "192.0.2.128/25"], "overlap"),
    ([], "non-empty list"),
])
def test_a_malformed_entry_is_refused_by_name(cidrs: list[str], message: str) -> None:
    with pytest.raises(GuardConfigError, match=message):
        _one(*cidrs)


def test_entries_must_not_overlap_or_share_a_label() -> None:
    with pytest.raises(GuardConfigError, match=r"10.1.0.0/16 \('a'\) and 10.1.2.0/24 \('b'\) "
                                               "overlap"):
        parse_entries({"network": [{"label": "a", "cidrs": ["10.1.0.0/16"]},
                                   {"label": "b", "cidrs": ["10.1.2.0/24"]}]})
    with pytest.raises(GuardConfigError, match="'a' is listed twice"):
        parse_entries({"network": [{"label": "a", "cidrs": ["10.1.0.0/16"]},
                                   {"label": "a", "cidrs": ["10.2.0.0/16"]}]})
    with pytest.raises(GuardConfigError, match="needs a label"):
        parse_entries({"network": [{"cidrs": ["10.1.0.0/16"]}]})
    with pytest.raises(GuardConfigError, match="unknown keys"):
        _one("10.1.0.0/16", allow=True)


def test_the_list_is_read_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.toml"
    path.write_text(GOOD, encoding="utf-8")
    settings = GuardSettings.from_env({SETTING: str(path)})
    assert [e.label for e in settings.shared_networks.entries] == ["hosted-software",
                                                                   "hospital-group"]
    assert settings.shared_networks.entries[1].organisations == {"17", "18"}
    assert not GuardSettings.from_env({}).shared_networks
    with pytest.raises(GuardConfigError, match="cannot read"):
        load_file(tmp_path / "missing.toml")
    path.write_text("[[network]\nlabel=", encoding="utf-8")
    with pytest.raises(GuardConfigError, match="not valid TOML"):
        load_file(path)


def test_a_bad_list_stops_the_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shared.toml"
    path.write_text('[[network]]\nlabel = "isp"\ncidrs = ["0.0.0.0/0"]\n', encoding="utf-8")
    monkeypatch.setenv(SETTING, str(path))
    with pytest.raises(GuardConfigError, match=f"{SETTING} .*'0.0.0.0/0' is too wide"):
        Settings.load(data_dir=tmp_path)


def test_a_session_keeps_its_scope_through_the_shared_state() -> None:
    session = SessionState(account_id="a", device="d", block="192.0.2.0/24", network=None,
                           started=0.0, last=0.0, scope="shared:hosted:org:4")
    loaded = codec.load_session(codec.dump(session))
    assert loaded.scope == "shared:hosted:org:4"
    assert loaded.wide == "shared:hosted:org:4"
    before = codec.dump(SessionState(account_id="a", device="d", block="b", network=None,
                                     started=0.0, last=0.0)).replace(b',"scope":null', b"")
    assert codec.load_session(before).wide == "b"
