"""The insured person's view: who looked at my data (docs/member-history.md).

A person reaches it from their insurer's member area with a short-lived link signed by
the insurer (`links`), sees every check and claim that concerned them (`history`), and
can report a check they do not recognise, which becomes an alert for the operator.
"""
