"""Built-in scale protocols; importing this package registers them."""
