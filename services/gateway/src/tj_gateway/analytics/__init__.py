"""``/api/v1/analytics``: the figures and series behind the charts, read through trades."""
