"""What runs on each machine of a cluster beside its Docker engine: the volume plugin."""
