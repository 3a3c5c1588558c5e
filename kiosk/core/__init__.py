"""The pure checkout core: timestamped inputs in, domain events out.

Nothing in this package performs I/O or reads a clock; ``tests/test_core_purity.py``
walks it and fails if an I/O library is imported.
"""
