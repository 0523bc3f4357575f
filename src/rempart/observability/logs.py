"""Structured logs for a server process: structlog configured once, stdlib routed to it.

`configure_logging("json")` (the default for a deployment) writes one JSON object a
line; "console" writes readable lines (the demo). Every line made while a request is
served carries its `request_id` (bound by rempart.web.request_id); the standard
library's records (uvicorn, SQLAlchemy, ...) go through the same processors, so they
are JSON lines with the request id too.

Personal data: rempart never logs it (values, not just fields: errors name a field and
a fixed reason), and tests check it. As a second line of defence every string value is
scrubbed of NIR-shaped digit runs before it is written. Exceptions are rendered
without local variables.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

FORMATS = ("json", "console")
# Sex, year, month, department (Corsica: 2A, 2B), commune, serial, optional key.
_NIR_SHAPED = re.compile(r"(?<![0-9A-Za-z])[12]\d{4}(?:\d{2}|2[ABab])\d{6}(?:\d{2})?(?!\d)")
_REDACTED = "[redacted]"
_handler: logging.Handler | None = None
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "granian")


def scrub_personal(_logger: Any, _method: str,
                   event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str) and _NIR_SHAPED.search(value):
            event_dict[key] = _NIR_SHAPED.sub(_REDACTED, value)
    return event_dict


def configure_logging(fmt: str = "json", *, stream: TextIO | None = None,
                      level: int = logging.INFO) -> None:
    """Set up structlog and the standard library's root logger (again if called again)."""
    global _handler
    if fmt not in FORMATS:
        from rempart.core.errors import ConfigurationError

        raise ConfigurationError(f"REMPART_LOG_FORMAT must be one of {', '.join(FORMATS)}")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        scrub_personal,
    ]
    renderer: Processor = (structlog.processors.JSONRenderer() if fmt == "json"
                           else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    for name in _SERVER_LOGGERS:  # the server's own handlers would write plain text
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True


def reset_logging() -> None:
    """Back to structlog's and the root logger's defaults (tests, tools)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    structlog.reset_defaults()
