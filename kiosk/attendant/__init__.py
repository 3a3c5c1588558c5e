"""Attendant tablet: floor model, keys, MQTT client (non-UI) and the Kivy app."""
