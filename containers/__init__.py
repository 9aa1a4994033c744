"""What a Floe container is made of, for workspaces, jobs and builds alike: the catalog a deployer
offers (environments, machine types, Floe's stock requirement lists), the one container-spec
builder, GPUs, and the spawn options checked against the catalog."""
