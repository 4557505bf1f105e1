"""Trading Journal trades service."""
