"""Training mode: scripted interventions on a real lane in training mode, a trainee acting
through the real tablet client, a scorer and a result sheet for the trainer
(docs/training.md)."""
