"""Trading Journal billing service."""
