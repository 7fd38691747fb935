"""A Celery task's deadline (``soft_time_limit``, ``time_limit``, ``expires``) as a job timeout."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from celery.utils.time import maybe_iso8601

#: the job must end this long before a time limit (its cancel and the result need time):
#: a tenth of the limit, at least MIN_MARGIN and at most MAX_MARGIN seconds (and at most half
#: of the limit)
MIN_MARGIN, MAX_MARGIN = 1.0, 10.0


def _margin(limit: float) -> float:
    return min(MAX_MARGIN, max(MIN_MARGIN, limit / 10), limit / 2)


def _seconds_until(expires: Any) -> float | None:
    when = maybe_iso8601(expires) if isinstance(expires, str) else expires
    if not isinstance(when, datetime):
        return None
    now = datetime.now(timezone.utc if when.tzinfo else None)
    return (when - now).total_seconds()


def job_timeout(task: Any, requested: float | None) -> float | None:
    """The ``timeout`` for the job of the running ``task``: the caller's ``requested`` timeout,
    cut to end before the task's soft and hard time limits and its expiry.

    ``None`` when nothing bounds it (the kit's default applies); ``0`` or less when the
    deadline has already passed. A ``requested`` value that is not a number is returned as it is
    (the kit refuses it).
    """
    if requested is not None and (
        isinstance(requested, bool) or not isinstance(requested, (int, float))
    ):
        return requested
    request, conf = task.request, task.app.conf
    hard, soft = request.timelimit or (None, None)
    hard = hard or task.time_limit or conf.task_time_limit
    soft = soft or task.soft_time_limit or conf.task_soft_time_limit
    bounds = [requested] if requested is not None else []
    bounds += [limit - _margin(limit) for limit in (hard, soft) if limit]
    left = _seconds_until(request.expires)
    if left is not None:
        bounds.append(left)
    return min(bounds) if bounds else None
