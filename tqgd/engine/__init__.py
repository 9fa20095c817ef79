"""Training, validation and detection glue between tqgd's models and ultralytics' engine."""
