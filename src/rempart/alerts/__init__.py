"""Stored alerts for the operator's security team: the guard's containment alerts and the
reports of insured persons who do not recognise a check (`rempart.alerts.store`)."""
