"""Kivy widgets of the shopper screens (imported by the app at build time, never by a
plain ``import kiosk.ui``)."""
