"""Labelled checkout scenarios (honest and fraud) and their evaluation against the core.

``generator.generate_suite`` writes replay-format input logs with ground truth;
``evaluate.evaluate`` replays them through the pure core and reports detection KPIs.
"""
