"""Mismatch detection: non-scans, switched tickets and weight fraud (docs/mismatch.md)."""

from kiosk.core.security.findings import SECURITY_REASONS, Reason
from kiosk.core.security.monitor import SecurityMonitor

__all__ = ["SECURITY_REASONS", "Reason", "SecurityMonitor"]
