"""Prints the versions the image runs with (the build benchmark's project)."""

import flax
import jax
import jax.numpy as jnp
import optax
import pandas as pd

print("jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__)
print("pandas", pd.__version__, "sum", float(jnp.arange(4.0).sum()))
