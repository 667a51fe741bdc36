"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class WithoutTraceback(logging.Filter):
    """Log the record as one line, without its traceback: for refusals Django logs as errors
    with the exception attached (a web form over DATA_UPLOAD_MAX_MEMORY_SIZE), which the user
    already got a clear 400 for; thirty lines of Django's frames per oversized form buried the
    log's real errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True
