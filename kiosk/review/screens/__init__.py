"""The review app's screens: flags (list), detail, precision, export."""
