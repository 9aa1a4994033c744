"""What runs on every machine of a cluster beside its Docker engine: Floe's volume plugin, laying
out the trees a container mounts and a job's folder, and sending a job's log and /output back."""
