"""The package's logger, and failure logging that stays readable during an outage.

A store that is down fails every request the same way: each failure gets its log line, but
the traceback of one cause is logged at most once a minute.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("flask_sessionext")

#: Seconds between two tracebacks of the same cause.
TRACEBACK_INTERVAL = 60.0
#: Distinct causes remembered; more are forgotten all at once (their next traceback is shown).
MAX_CAUSES = 1024

_lock = threading.Lock()
_last_traceback: dict[tuple[str, ...], float] = {}


def log_failure(message: str, *args: object, error: BaseException) -> None:
    """Log ``message`` at ERROR, with ``error``'s traceback unless its cause was shown this minute.

    The cause is the exception's type, the type of the exception at the root of its chain,
    and the line that raised that one.
    """
    key = _cause(error)
    now = time.monotonic()
    with _lock:
        last = _last_traceback.get(key)
        due = last is None or now - last >= TRACEBACK_INTERVAL
        if due:
            if len(_last_traceback) >= MAX_CAUSES:
                _last_traceback.clear()
            _last_traceback[key] = now
    if due:
        logger.error(message, *args, exc_info=error)
    else:
        logger.error(message + " (traceback logged earlier)", *args)


def _cause(error: BaseException) -> tuple[str, ...]:
    root, seen = error, {id(error)}
    while True:
        inner = root.__cause__ or root.__context__
        if inner is None or id(inner) in seen:
            break
        root = inner
        seen.add(id(inner))
    frame = root.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else ""
    return (type(error).__qualname__, type(root).__module__, type(root).__qualname__, where)
