"""Serial scales: pure protocol parsers, a serial adapter, a stability filter, a simulator."""
