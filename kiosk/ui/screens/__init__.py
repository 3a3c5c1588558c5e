"""One module and one ``.kv`` file per shopper screen; ``SCREENS`` lists them in order."""

SCREENS: tuple[str, ...] = (
    "attract", "welcome", "bags", "scanning", "produce", "help", "intervention",
    "payment", "receipt", "rating", "thank_you", "out_of_service",
)  # fmt: skip
