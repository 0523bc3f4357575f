"""Breach response: a scope of who had what disclosed, turned into the GDPR documents.

`Scope` (which persons, which fields, through what, when) is loaded from the file that
`rempart breach scope` writes; `BreachReporter` turns it into the draft article 33
notification and the article 34 letters (docs/breach-response.md).
"""

from rempart.response.article33 import ContactPoint, Deadline
from rempart.response.directory import Addressee, PersonDirectory, UnavailableDirectory
from rempart.response.errors import (
    DetectionInFuture,
    DirectoryUnavailable,
    InvalidScope,
    OutputNotEmpty,
    PersonNotInDirectory,
    ResponseError,
    ScopeFileError,
)
from rempart.response.fields import CATALOGUE, FIELD_NAMES, DataCategory, Language
from rempart.response.scope import Scope, ScopeCounts, ScopedPerson, Selector, Window
from rempart.response.scope_io import load_scope, scope_to_csv, scope_to_json, write_scope_files
from rempart.response.service import BreachReporter, ReportSummary

__all__ = [
    "CATALOGUE",
    "FIELD_NAMES",
    "Addressee",
    "BreachReporter",
    "ContactPoint",
    "DataCategory",
    "Deadline",
    "DetectionInFuture",
    "DirectoryUnavailable",
    "InvalidScope",
    "Language",
    "OutputNotEmpty",
    "PersonDirectory",
    "PersonNotInDirectory",
    "ReportSummary",
    "ResponseError",
    "Scope",
    "ScopeCounts",
    "ScopeFileError",
    "ScopedPerson",
    "Selector",
    "UnavailableDirectory",
    "Window",
    "load_scope",
    "scope_to_csv",
    "scope_to_json",
    "write_scope_files",
]
