"""An alert as an OCSF Detection Finding (class 2004, category 2 "Findings").

The shape follows the OCSF schema (events/findings/detection_finding.json, which extends
finding and base_event): the base event's classification (`class_uid`, `category_uid`,
`activity_id`, `type_uid` = class_uid * 100 + activity_id), `severity_id`, `time` in
milliseconds since the epoch and `metadata` (product, schema version); the finding's
required `finding_info` (uid, title, description, types, creation time) with its
`status_id`; `is_alert`; and the `unmapped` object for rempart's own fields.

Only internal ids leave: the account, organisation and session as rempart names them,
the check reference a person reported, and a listed shared network's label (the
operator's own). Reasons are the guard's sentences ("312 checks in 40 min, ..."), which
name counts, never a person.
"""

from __future__ import annotations

from typing import Any

from rempart.alerts.store import AlertSource, StoredAlert

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004  # Detection Finding
CATEGORY_UID = 2  # Findings
ACTIVITY_CREATE = 1
STATUS_NEW = 1
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
TITLES = {AlertSource.GUARD: "Exfiltration guard: {action}",
          AlertSource.MEMBER_REPORT: "An insured person reported a check they do not recognise",
          AlertSource.CLOCK: "The server's clock jumped: the guard's time base was shifted",
          AlertSource.SHARED_NETWORK: "A listed shared network is used unusually: {network}"}


def detection_finding(alert: StoredAlert, *, product_version: str) -> dict[str, Any]:
    severity_id = SEVERITY_IDS.get(alert.severity, 99)
    millis = int(alert.created_at.timestamp() * 1000)
    title = TITLES[alert.source].format(action=(alert.action or "alert").replace("_", " "),
                                        network=alert.network or "")
    finding: dict[str, Any] = {
        "class_uid": CLASS_UID, "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE, "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "severity_id": severity_id, "severity": SEVERITY_NAMES.get(severity_id, "Other"),
        "status_id": STATUS_NEW, "status": "New",
        "time": millis, "is_alert": True,
        "message": "; ".join(alert.reasons) or title,
        "metadata": {"version": OCSF_VERSION, "uid": f"rempart-alert-{alert.id}",
                     "product": {"name": "rempart", "vendor_name": "rempart",
                                 "version": product_version}},
        "finding_info": {"uid": f"rempart-alert-{alert.id}", "title": title,
                         "desc": "; ".join(alert.reasons), "types": [alert.source.value],
                         "created_time": millis,
                         "analytic": {"name": alert.source.value, "type_id": 99,
                                      "type": "Other"}},
        "unmapped": {key: value for key, value in (
            ("account_id", alert.account_id), ("organisation_id", alert.organisation_id),
            ("session_id", alert.session_id), ("channel", alert.channel),
            ("action", alert.action), ("score", alert.score),
            ("check_reference", alert.check_reference), ("network", alert.network))
            if value is not None},
    }
    if alert.score is not None:
        finding["risk_score"] = round(alert.score)
    return finding
