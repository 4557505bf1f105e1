"""One module per broker; every concrete FormatParser here is found by the registry."""
