"""``sco demo``: the whole kiosk on a laptop, with a simulated shopper and devices."""
