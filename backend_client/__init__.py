"""OpenSCO backend_client package."""
