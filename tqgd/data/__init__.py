"""Data layer: CT readers, the synthetic cardiac phantom, mask-to-box converters and dataset writers."""
