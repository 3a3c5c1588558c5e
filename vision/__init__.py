"""OpenSCO vision package."""
