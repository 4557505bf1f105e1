"""``/api/v1/trades`` and ``/api/v1/analytics``: reads through the trades service."""
