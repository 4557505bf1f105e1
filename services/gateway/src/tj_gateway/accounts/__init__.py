"""Broker accounts."""
