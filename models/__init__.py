"""OpenSCO models package."""
