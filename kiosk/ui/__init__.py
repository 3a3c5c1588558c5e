"""The Kivy shopper app and its plain-Python view-model (docs/ui.md)."""
