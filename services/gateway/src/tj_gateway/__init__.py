"""Trading Journal gateway service."""
