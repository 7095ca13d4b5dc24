"""The benchmark suite on TorchEBM (PyTorch CPU), for a same-machine reference.

Same names, parameters and timing rule as `cargo xtask bench` (warm-up, then the median of
5 repeats; `*_step` records time one epoch of 40 optimiser steps and divide). Run with
`python bench/torchebm_reference.py [--threads 2] [--filter NAME] [--out FILE]` in an
environment with `torchebm==0.8.9` installed; prints the same markdown table and writes the
same JSON records (backend "torchebm").
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
from torchebm.core import BaseModel, DoubleWellModel, GaussianModel
from torchebm.losses import (
    ContrastiveDivergence,
    DenoisingScoreMatching,
    EnergyMatchingLoss,
    EquilibriumMatchingLoss,
    FlowMatchingLoss,
    PersistentContrastiveDivergence,
    ScoreMatching,
    SlicedScoreMatching,
)
from torchebm.samplers import FlowSampler, HamiltonianMonteCarlo, LangevinDynamics


class MlpEnergy(BaseModel):
    """E(x) = MLP(x), hidden layers with one activation, a scalar head."""

    def __init__(self, d, hidden, act):
        super().__init__()
        layers, width = [], d
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).squeeze(-1)


def time_runs(repeats, f):
    f()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return times


def record(name, metric, work, times, params, unit):
    median = statistics.median(times)
    value = work / median if metric != "s_per_step" else median
    return {
        "name": name,
        "backend": "torchebm",
        "metric": metric,
        "value": value,
        "unit": unit,
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
        "params": params,
    }


def sampling(selected):
    out = []
    cases = [
        ("langevin_mlp_small", lambda: MlpEnergy(2, [128, 128], nn.SiLU), 1024, 2, 100),
        ("langevin_mlp_wide", lambda: MlpEnergy(64, [256, 256], nn.SiLU), 4096, 64, 50),
        ("langevin_gaussian", lambda: GaussianModel(torch.zeros(2), torch.eye(2)), 10_000, 2, 1000),
        ("langevin_doublewell", lambda: DoubleWellModel(barrier_height=2.0, b=1.0), 10_000, 2, 1000),
    ]
    for name, make, batch, dim, steps in cases:
        if not selected(name):
            continue
        sampler = LangevinDynamics(make(), step_size=0.01, noise_scale=1.0)
        init = torch.randn(batch, dim)
        times = time_runs(5, lambda: sampler.sample(x=init.clone(), n_steps=steps))
        params = {"batch": batch, "steps": steps, "step_size": 0.01, "noise_scale": 1.0}
        out.append(record(name, "grad_evals_per_s", batch * steps, times, params, "grad_evals/s"))
    if selected("hmc_gaussian"):
        hmc = HamiltonianMonteCarlo(
            GaussianModel(torch.zeros(10), torch.eye(10)), step_size=0.1, n_leapfrog_steps=10
        )
        init = torch.randn(1000, 10)
        times = time_runs(5, lambda: hmc.sample(x=init.clone(), n_steps=100))
        params = {"batch": 1000, "steps": 100, "n_leapfrog": 10, "step_size": 0.1}
        out.append(record("hmc_gaussian", "chain_steps_per_s", 1000 * 100, times, params, "chain_steps/s"))
    return out


def time_steps(make_model, base, make_loss, data, batch, steps):
    """Seconds per Adam step over one epoch of `steps` batches, from `base`'s weights each time."""

    def epoch():
        model = make_model()
        model.load_state_dict(base.state_dict())
        loss_fn = make_loss(model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for i in range(steps):
            opt.zero_grad()
            loss = loss_fn(data[i * batch:(i + 1) * batch])
            if isinstance(loss, tuple):
                loss = loss[0]
            loss.backward()
            opt.step()

    return [t / steps for t in time_runs(5, epoch)]


def training(selected):
    out = []
    steps, batch = 40, 128
    data = torch.randn(batch * steps, 2)
    base = MlpEnergy(2, [64, 64], nn.SELU)
    cases = {
        "cd_step": lambda m: ContrastiveDivergence(
            m, LangevinDynamics(m, step_size=0.01), k_steps=10
        ),
        "pcd_step": lambda m: PersistentContrastiveDivergence(
            m, LangevinDynamics(m, step_size=0.01), k_steps=10, buffer_size=10000
        ),
        "sm_exact_step": lambda m: ScoreMatching(m, hessian_method="exact"),
        "ssm_step": lambda m: SlicedScoreMatching(m, n_projections=5),
        "dsm_step": lambda m: DenoisingScoreMatching(m, noise_scale=0.1),
    }
    for name, make_loss in cases.items():
        if selected(name):
            times = time_steps(lambda: MlpEnergy(2, [64, 64], nn.SELU), base, make_loss, data, batch, steps)
            params = {"model": "mlp 2-64-64-1 selu", "batch": batch, "optimizer": "adam"}
            out.append(record(name, "s_per_step", 1, times, params, "s"))
    return out


class CnnEnergy(BaseModel):
    """The seeds' CNN: 3x3 convs 32, 32/2, 64, 64/2, 128, 128/2 (padding 1), SELU, then
    Linear(2048, 128), SELU, Linear(128, 1), on 1x28x28 images."""

    def __init__(self):
        super().__init__()
        layers, c = [], 1
        for out, stride in [(32, 1), (32, 2), (64, 1), (64, 2), (128, 1), (128, 2)]:
            layers += [nn.Conv2d(c, out, 3, stride, 1), nn.SELU()]
            c = out
        self.net = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 128), nn.SELU(), nn.Linear(128, 1)
        )

    def forward(self, x):
        return self.net(x.view(-1, 1, 28, 28)).squeeze(-1)


def images(selected):
    """The CNN records of the image issue: batch 64, flattened 1x28x28 images."""
    out = []
    batch, pixels = 64, 28 * 28
    model = CnnEnergy()
    params = {"model": "seeds' cnn 1x28x28 selu", "batch": batch}
    x = torch.randn(batch, pixels)
    if selected("cnn_energy_grad"):
        frozen = CnnEnergy()
        frozen.load_state_dict(model.state_dict())
        for p in frozen.parameters():
            p.requires_grad_(False)
        evals = 5

        def grads():
            acc = x.clone()
            for _ in range(evals):
                acc = acc - 1e-6 * frozen.gradient(acc)

        times = time_runs(5, grads)
        out.append(record("cnn_energy_grad", "grad_evals_per_s", batch * evals, times,
                          {**params, "evaluations": evals}, "grad_evals/s"))
    if selected("cnn_langevin"):
        sampler = LangevinDynamics(model, step_size=0.01, noise_scale=1.0)
        times = time_runs(5, lambda: sampler.sample(x=x.clone(), n_steps=20))
        out.append(record("cnn_langevin", "grad_evals_per_s", batch * 20, times,
                          {**params, "steps": 20, "step_size": 0.01, "noise_scale": 1.0},
                          "grad_evals/s"))
    steps = 4
    data = torch.rand(batch * steps, pixels)
    cases = {
        "cnn_cd_step": lambda m: ContrastiveDivergence(
            m, LangevinDynamics(m, step_size=0.01), k_steps=10
        ),
        "cnn_dsm_step": lambda m: DenoisingScoreMatching(m, noise_scale=0.1),
    }
    for name, make_loss in cases.items():
        if selected(name):
            times = time_steps(CnnEnergy, model, make_loss, data, batch, steps)
            out.append(record(name, "s_per_step", 1, times, {**params, "optimizer": "adam"}, "s"))
    return out


def deterministic_(module):
    """Every Linear weight W[j][i] = sin(1 + 0.7i + 1.3j)/sqrt(fan_in), bias b[j] = 0.1 cos(j)
    (i the input, j the output): the network crates/ebm-bench/src/flows.rs builds."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                out, fan_in = layer.weight.shape
                i = torch.arange(fan_in, dtype=torch.float64)[None, :]
                j = torch.arange(out, dtype=torch.float64)[:, None]
                layer.weight.copy_(torch.sin(1 + 0.7 * i + 1.3 * j) / fan_in ** 0.5)
                layer.bias.copy_(0.1 * torch.cos(torch.arange(out, dtype=torch.float64)))
    return module


def flows(selected):
    """The flow records: batch 256, Adam; the field 2-256-256-2 (time-conditioned by concat for
    flow matching, unconditional for EqM), the energy 2-256-256-1 for Energy Matching."""
    from torchebm.models import TimeConditionedMLP

    out = []
    batch, steps = 256, 40
    data = torch.randn(batch * steps, 2)

    def field(time):
        return lambda: TimeConditionedMLP(
            in_dim=2, hidden_dim=256, depth=2, conditioning="concat",
            cond_dim=None if time else 0)

    cases = [
        ("fm_step", field(True), lambda m: FlowMatchingLoss(m), steps),
        ("eqm_step", field(False), lambda m: EquilibriumMatchingLoss(m), steps),
        ("em_step", lambda: MlpEnergy(2, [256, 256], nn.SiLU),
         lambda m: EnergyMatchingLoss(m, lambda_cd=2.0), 5),
    ]
    for name, make_model, make_loss, n in cases:
        if selected(name):
            times = time_steps(make_model, make_model(), make_loss, data, batch, n)
            out.append(record(name, "s_per_step", 1, times, {"batch": batch, "optimizer": "adam"}, "s"))
    if selected("flow_sample_dopri5"):
        model = deterministic_(field(True)())
        calls = [0]

        def counted(x, t, **kwargs):
            calls[0] += 1
            return model(x, t, **kwargs)

        class Counted(nn.Module):
            def forward(self, x, t, **kwargs):
                return counted(x, t, **kwargs)

        sampler = FlowSampler(Counted(), integrator="dopri5")
        x0 = torch.randn(1024, 2)
        times = time_runs(5, lambda: sampler.sample(x=x0.clone()))
        calls[0] = 0
        sampler.sample(x=x0.clone())
        params = {"samples": 1024, "integrator": "dopri5 defaults", "evaluations": calls[0]}
        out.append(record("flow_sample_dopri5", "samples_per_s", 1024, times, params, "samples/s"))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--filter", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    def selected(name):
        # As the Rust suite: comma-separated patterns, each a substring or `=exact`.
        if args.filter is None:
            return True
        return any(name == p[1:] if p.startswith("=") else p in name for p in args.filter.split(","))

    records = sampling(selected) + training(selected) + images(selected) + flows(selected)
    print("| benchmark | backend | median | min | max | throughput | unit |")
    print("|---|---|---|---|---|---|---|")
    for r in records:
        print(
            f"| {r['name']} | torchebm | {r['median_s'] * 1e3:.3f} ms | {r['min_s'] * 1e3:.3f} ms "
            f"| {r['max_s'] * 1e3:.3f} ms | {r['value']:.4e} | {r['unit']} |"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
