"""Loss-prevention review: the desktop app (app.py) and the ``sco review`` command."""
