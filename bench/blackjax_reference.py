#!/usr/bin/env python3
"""blackjax's MALA and HMC on the sampler-efficiency targets, for `cargo xtask bench --blackjax`.

    python bench/blackjax_reference.py --out DIR [--filter TEXT] [--chains N] [--warmup N]
        [--draws N] [--seeds N]

Needs `jax` and `blackjax` from PyPI (CPU wheels). Each case runs once per seed (HMC with a fixed
number of leapfrog steps is sensitive to where its adapted step size lands, so one seed can
mislead). For each case and seed it writes the draws as raw little-endian float32,
`[chains, draws, dim]`, to `DIR/<name>.seed<k>.f32`, and one record per case to
`DIR/blackjax.json`: the wall time of each seed's whole run (warm-up and draws; the function is
jitted and called once before, so compilation is not in it), its gradient evaluations, the
adapted step sizes and the acceptance. The effective sample sizes are computed on the Rust side by the same
estimator as ebm's own draws (`ebm_sample::diagnostics::effective_sample_size`).

The targets and the algorithms match `crates/ebm-bench/src/sampler_efficiency.rs`:

- gaussian_d100: N(0, diag(v)), v_i = 10^(-2 + 3 i / 99) (condition number 1000);
- funnel_d10: Neal's funnel, sigma = 3;
- mixture_2d: 0.3 N((-2, 0), I) + 0.7 N((2, 0), I);
- banana: x1 ~ N(0, 100), x2 | x1 ~ N(0.03 (x1^2 - 100), 1).

MALA adapts its step size by dual averaging towards acceptance 0.574 during the warm-up (the
standard constants, per chain); HMC with 10 leapfrog steps uses blackjax's window adaptation
(Stan's windows, a diagonal mass, target acceptance 0.8), per chain. ChEES is blackjax's
`chees_adaptation` over the ensemble (its defaults: harmonic-mean acceptance 0.651, Halton
jitter; a diagonal mass; Adam at 0.025, from one leapfrog step of 0.1), then `dynamic_hmc`; its
gradient evaluations are counted from the steps each transition took. Chains start from N(0, I).
"""

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import blackjax
import optax
from blackjax.adaptation.base import get_filter_adapt_info_fn
from blackjax.adaptation.step_size import dual_averaging_adaptation

N_LEAPFROG = 10
MALA_TARGET = 0.574
HMC_TARGET = 0.8
INITIAL_STEP = 0.1

GAUSSIAN_VARIANCES = 10.0 ** (-2.0 + 3.0 * jnp.arange(100) / 99.0)


def gaussian(x):
    return -0.5 * jnp.sum(x * x / GAUSSIAN_VARIANCES)


def funnel(x, sigma=3.0):
    v, z = x[0], x[1:]
    return -(v * v / (2 * sigma * sigma) + 0.5 * jnp.exp(-v) * jnp.sum(z * z) + z.shape[0] * v / 2)


MIXTURE_MEANS = jnp.array([[-2.0, 0.0], [2.0, 0.0]])
MIXTURE_LOG_WEIGHTS = jnp.log(jnp.array([0.3, 0.7]))


def mixture(x):
    return jax.scipy.special.logsumexp(
        MIXTURE_LOG_WEIGHTS - 0.5 * jnp.sum((x - MIXTURE_MEANS) ** 2, axis=1)
    )


def banana(x, s=10.0, b=0.03):
    return -(x[0] ** 2 / (2 * s * s) + 0.5 * (x[1] - b * x[0] ** 2 + b * s * s) ** 2)


TARGETS = {
    "gaussian_d100": (gaussian, 100),
    "funnel_d10": (funnel, 10),
    "mixture_2d": (mixture, 2),
    "banana": (banana, 2),
}


def mala_chain(logdensity, n_warmup, n_draws):
    kernel = blackjax.mala.build_kernel()
    da_init, da_update, da_final = dual_averaging_adaptation(MALA_TARGET)

    def run(key, x0):
        k_warm, k_draw = jax.random.split(key)
        state = blackjax.mala.init(x0, logdensity)

        def warm(carry, k):
            state, da = carry
            state, info = kernel(k, state, logdensity, jnp.exp(da.log_step_size))
            return (state, da_update(da, info.acceptance_rate)), None

        (state, da), _ = jax.lax.scan(
            warm, (state, da_init(INITIAL_STEP)), jax.random.split(k_warm, n_warmup)
        )
        step = da_final(da)

        def draw(state, k):
            state, info = kernel(k, state, logdensity, step)
            return state, (state.position, info.acceptance_rate)

        _, (xs, acc) = jax.lax.scan(draw, state, jax.random.split(k_draw, n_draws))
        return xs, acc.mean(), step

    return per_chain(run, n_warmup + n_draws)


def hmc_chain(logdensity, n_warmup, n_draws):
    def run(key, x0):
        k_warm, k_draw = jax.random.split(key)
        warmup = blackjax.window_adaptation(
            blackjax.hmc,
            logdensity,
            initial_step_size=INITIAL_STEP,
            target_acceptance_rate=HMC_TARGET,
            adaptation_info_fn=get_filter_adapt_info_fn(),
            num_integration_steps=N_LEAPFROG,
        )
        (state, parameters), _ = warmup.run(k_warm, x0, num_steps=n_warmup)
        # `parameters` holds the step size, the inverse mass and the leapfrog steps.
        hmc = blackjax.hmc(logdensity, **parameters)

        def draw(state, k):
            state, info = hmc.step(k, state)
            return state, (state.position, info.acceptance_rate)

        _, (xs, acc) = jax.lax.scan(draw, state, jax.random.split(k_draw, n_draws))
        return xs, acc.mean(), parameters["step_size"]

    return per_chain(run, (n_warmup + n_draws) * N_LEAPFROG)


def per_chain(run, grads_per_chain):
    """`run(key, x0)` of one chain as a run of all chains that also counts the gradients."""

    def run_all(keys, x0):
        xs, acceptance, steps = jax.vmap(run)(keys, x0)
        return xs, acceptance, steps, jnp.asarray(keys.shape[0] * grads_per_chain)

    return run_all


def chees_chains(logdensity, n_warmup, n_draws):
    """blackjax's ChEES adaptation over the ensemble (Adam at learning rate 0.025, a diagonal
    mass, Halton-jittered trajectories), then its jittered dynamic HMC."""

    def run_all(keys, x0):
        chains = x0.shape[0]
        k_warm, k_draw = jax.random.split(keys[0])
        warmup = blackjax.chees_adaptation(
            logdensity,
            chains,
            mass_matrix_estimation="diagonal",
            adaptation_info_fn=get_filter_adapt_info_fn(info_keys={"num_integration_steps"}),
        )
        (states, parameters), info = warmup.run(
            k_warm, x0, step_size=INITIAL_STEP, optim=optax.adam(0.025), num_steps=n_warmup
        )
        kernel = blackjax.dynamic_hmc(logdensity, **parameters)

        def draw(states, k):
            states, step_info = jax.vmap(kernel.step)(jax.random.split(k, chains), states)
            return states, (states.position, step_info.num_integration_steps, step_info.acceptance_rate)

        _, (xs, steps, acc) = jax.lax.scan(draw, states, jax.random.split(k_draw, n_draws))
        grads = info.info.num_integration_steps.sum() + steps.sum()
        step = jnp.full(chains, parameters["step_size"])
        return jnp.swapaxes(xs, 0, 1), acc.mean(axis=0), step, grads

    return run_all


ALGORITHMS = {"mala": mala_chain, "hmc": hmc_chain, "chees": chees_chains}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--filter", default=None)
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for algorithm, build in ALGORITHMS.items():
        for target, (logdensity, dim) in TARGETS.items():
            name = f"ess_{algorithm}_{target}"
            if args.filter and not any(
                name == p[1:] if p.startswith("=") else p in name for p in args.filter.split(",")
            ):
                continue
            run = jax.jit(build(logdensity, args.warmup, args.draws))
            seconds, first, step_medians, acceptances, grads = [], None, [], [], []
            for seed in range(args.seeds):
                key, init_key = jax.random.split(jax.random.PRNGKey(seed))
                keys = jax.random.split(key, args.chains)
                x0 = jax.random.normal(init_key, (args.chains, dim))
                if first is None:
                    started = time.perf_counter()
                    jax.block_until_ready(run(keys, x0))
                    first = time.perf_counter() - started
                started = time.perf_counter()
                xs, acceptance, steps, grad_evals = jax.block_until_ready(run(keys, x0))
                grads.append(int(grad_evals))
                seconds.append(time.perf_counter() - started)
                np.asarray(xs, dtype="<f4").tofile(args.out / f"{name}.seed{seed}.f32")
                step_medians.append(float(jnp.median(steps)))
                acceptances.append(float(jnp.mean(acceptance)))
            records.append(
                {
                    "name": name,
                    "algorithm": algorithm,
                    "target": target,
                    "chains": args.chains,
                    "warmup": args.warmup,
                    "draws": args.draws,
                    "dim": dim,
                    "grad_evals": grads,
                    "seeds": args.seeds,
                    "seconds": seconds,
                    "first_call_seconds": first,
                    "step_size_median": step_medians,
                    "acceptance": acceptances,
                    "jax": jax.__version__,
                    "blackjax": blackjax.__version__,
                }
            )
            print(
                f"{name}: {np.median(seconds):.3f} s per seed (first call {first:.3f} s), "
                f"steps {np.round(step_medians, 4)}, acceptance {np.round(acceptances, 3)}",
                flush=True,
            )
    (args.out / "blackjax.json").write_text(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
