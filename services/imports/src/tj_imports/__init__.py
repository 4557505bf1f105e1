"""Trading Journal imports service."""
