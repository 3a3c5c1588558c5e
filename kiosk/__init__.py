"""OpenSCO kiosk package."""
