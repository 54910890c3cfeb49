"""Train a tiny linear model with JAX + optax; prints the final loss."""

import jax
import jax.numpy as jnp
import optax


def main() -> None:
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (256, 3))
    true_w = jnp.array([1.5, -2.0, 0.5])
    y = x @ true_w
    w = jnp.zeros(3)
    opt = optax.sgd(0.1)
    state = opt.init(w)

    @jax.jit
    def step(w, state):
        loss, grad = jax.value_and_grad(lambda w: jnp.mean((x @ w - y) ** 2))(w)
        updates, state = opt.update(grad, state)
        return optax.apply_updates(w, updates), state, loss

    for _ in range(200):
        w, state, loss = step(w, state)
    print(f"devices={jax.devices()} loss={float(loss):.6f} w={w.round(2).tolist()}")


if __name__ == "__main__":
    main()
