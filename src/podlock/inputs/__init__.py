"""What the user wrote: project discovery, requirement files, pyproject, podlock.toml,
the index plan and the target Python; ``runtime`` strips the runtime packages a variant's
base image provides (``# kn:keep`` keeps them)."""
