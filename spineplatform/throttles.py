"""The API throttles, open when their counts cannot be reached.

The counts live in the cache, which production keeps in Redis (CACHE_URL). A throttle that raised while Redis
is down would turn every API call into a 500, a reader's submit and a senior's adjudication included, though
neither needs Redis: so a request whose count cannot be read or written is let through, and a warning logged.
The log-in lockout (django-axes) counts in the database and stays shut.
"""
from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _OpenWhenCacheDown:
    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as error:
            logger.warning("API throttle not applied, its cache is unreachable: %s", error)
            return True


class AnonThrottle(_OpenWhenCacheDown, AnonRateThrottle):
    pass


class UserThrottle(_OpenWhenCacheDown, UserRateThrottle):
    pass
