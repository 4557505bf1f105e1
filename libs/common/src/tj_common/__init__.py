"""Platform code every Trading Journal service shares."""
