"""OpenSCO calibration package."""
