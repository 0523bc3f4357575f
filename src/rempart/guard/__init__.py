"""The exfiltration guard: rate ceilings, a behaviour model per account and a
containment ladder between a provider's check and the answer leaving rempart.
See docs/guard.md."""

from rempart.guard.alerts import Alert, AlertSink, MemoryAlertSink
from rempart.guard.ceilings import LimitPolicy
from rempart.guard.config import GuardSettings, build_guard, build_state
from rempart.guard.context import Channel, CheckContext, LookupOutcome, SizeClass
from rempart.guard.decision import Action, Decision, Evidence
from rempart.guard.errors import GuardConfigError, GuardError, GuardUnavailable
from rempart.guard.guard import Guard, StepUpFactor
from rempart.guard.ladder import LadderPolicy
from rempart.guard.peers import PeerProfiles
from rempart.guard.state import GuardState, MemoryGuardState

__all__ = [
    "Action", "Alert", "AlertSink", "Channel", "CheckContext", "Decision", "Evidence", "Guard",
    "GuardConfigError", "GuardError", "GuardSettings", "GuardState", "GuardUnavailable",
    "LadderPolicy", "LimitPolicy", "LookupOutcome", "MemoryAlertSink", "MemoryGuardState",
    "PeerProfiles", "SizeClass", "StepUpFactor", "build_guard", "build_state",
]
