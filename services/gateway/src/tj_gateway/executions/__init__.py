"""``/api/v1/executions``: record fills (a command to trades) and list them (trades' query API)."""
