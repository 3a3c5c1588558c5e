"""OpenSCO kiosk: the pure checkout core, its engine and journal, and the Kivy apps."""

__version__ = "0.1.0"
