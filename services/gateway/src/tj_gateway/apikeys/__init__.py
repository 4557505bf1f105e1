"""API keys: ``Authorization: Bearer tj_...`` wherever an access token is accepted (DESIGN §6)."""
