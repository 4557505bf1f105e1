"""Identity: users, passwords and access tokens (the edge issue completes it)."""
