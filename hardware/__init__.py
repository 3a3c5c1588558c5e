"""OpenSCO hardware package."""
