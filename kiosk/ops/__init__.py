"""Operations: telemetry and /metrics, diagnostics, backup and restore, privacy and security."""
