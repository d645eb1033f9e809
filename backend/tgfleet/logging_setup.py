"""Logging for a daemon that runs for months: stderr plus a rotating file, secrets masked.

Secrets must never reach a log line. The first defence is not to log them; the second is the
``SecretMask`` filter, which replaces every registered secret (admin password, API tokens,
bot tokens, 2FA passwords) with ``***`` in the final text of a record, whatever logged it.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class SecretMask(logging.Filter):
    """Masks registered secrets in every record that passes through a handler."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        # Short values would mask ordinary words; real secrets are long.
        if len(secret) >= 6:
            with self._lock:
                self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        text = record.getMessage()
        masked = text
        for secret in tuple(self._secrets):
            if secret in masked:
                masked = masked.replace(secret, "***")
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            # Tracebacks carry exception messages; format them now so the mask applies.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in tuple(self._secrets):
                record.exc_text = record.exc_text.replace(secret, "***")
        return True


secret_mask = SecretMask()


def configure_logging(
    level: str = "INFO",
    log_dir: Path | None = None,
    file_name: str = "tgfleet.log",
    max_bytes: int = 10_000_000,
    backups: int = 5,
) -> None:
    """Send logs to stderr and, when ``log_dir`` is given, to a rotating file there."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_dir / file_name, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(secret_mask)
        root.addHandler(handler)
    root.setLevel(level)
    # Kurigram logs every reconnect at INFO; the pool reports what matters to operators.
    logging.getLogger("pyrogram").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
