"""Model and dataset YAMLs shipped with tqgd (installed as the package ``tqgd.cfg``)."""
