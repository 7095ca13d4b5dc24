"""TorchEBM 0.8.9's side of the flow-era quality table (examples/flow_quality.rs).

    python bench/flow_quality_torchebm.py --data DIR --out DIR [--threads 2]

`examples/flow_quality.rs --torchebm PYTHON` runs this itself. It reads the settings and the
datasets that the Rust example wrote (`DIR/settings.json`, `DIR/<set>.json`: the training points,
the noise every sampler starts from, the quadrature grid), trains flow matching, Equilibrium
Matching and Energy Matching with TorchEBM's own models, losses and samplers on the same data,
with the same architectures, optimiser, step counts and sampler settings, and writes
`OUT/<set>.json`: each method's samples and training seconds, and for Energy Matching (the one
energy) its energy on the quadrature grid and on the held-out points. The Rust example scores
both libraries' outputs with the same code.
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
from torchebm.core import BaseModel, TemperatureScheduler
from torchebm.losses import EnergyMatchingLoss, EquilibriumMatchingLoss, FlowMatchingLoss
from torchebm.models import EqMEnergy, TimeConditionedMLP
from torchebm.samplers import FlowSampler, LangevinDynamics, NesterovSampler


class MlpEnergy(BaseModel):
    """E(x) = MLP(x): SiLU hidden layers and a scalar head (ebm's `Mlp`)."""

    def __init__(self, d, hidden):
        super().__init__()
        layers, width = [], d
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).squeeze(-1)


def train(model, loss_fn, data, s, epochs, seed, on_epoch=None):
    """Adam over `epochs` passes of shuffled batches, as ebm's Trainer does; returns seconds."""
    opt = torch.optim.Adam(model.parameters(), lr=s["learning_rate"])
    gen = torch.Generator().manual_seed(seed)
    batch = s["batch_size"]
    started = time.perf_counter()
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        order = torch.randperm(len(data), generator=gen)
        for i in range(len(data) // batch):
            loss = loss_fn(data[order[i * batch:(i + 1) * batch]])
            if isinstance(loss, tuple):
                loss = loss[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - started


def field(s, time_conditioned):
    return TimeConditionedMLP(
        in_dim=2, hidden_dim=s["hidden"][0], depth=len(s["hidden"]), conditioning="concat",
        cond_dim=None if time_conditioned else 0)


def tolist(t):
    return t.detach().double().tolist()


def run_set(s, data_file):
    with open(data_file) as f:
        d = json.load(f)
    data = torch.tensor(d["train"], dtype=torch.float32)
    noise = torch.tensor(d["noise"], dtype=torch.float32)
    out = {"name": d["name"]}
    torch.manual_seed(s["seed"])

    fm = field(s, True)
    seconds = train(fm, FlowMatchingLoss(fm), data, s, s["epochs"], s["seed"])
    samples = FlowSampler(fm, integrator="dopri5").sample(x=noise.clone())
    out["fm"] = {"samples": tolist(samples), "train_s": seconds}

    eqm = field(s, False)
    seconds = train(eqm, EquilibriumMatchingLoss(eqm), data, s, s["epochs"], s["seed"] + 1)
    descent = s["eqm_descent"]
    sampler = NesterovSampler(EqMEnergy(eqm, energy_type="implicit"),
                              step_size=descent["step_size"], momentum=descent["momentum"])
    samples = sampler.sample(x=noise.clone(), n_steps=descent["steps"])
    out["eqm"] = {"samples": tolist(samples), "train_s": seconds}

    em_s = s["energy_matching"]
    em = MlpEnergy(2, s["hidden"])
    loss_fn = EnergyMatchingLoss(em, lambda_cd=0.0, n_langevin_steps=em_s["langevin_steps"])

    def phase(epoch):
        if epoch == em_s["warmup_epochs"]:
            loss_fn.lambda_cd = em_s["contrastive_weight"]

    seconds = train(em, loss_fn, data, s, s["epochs"], s["seed"] + 2, phase)
    steps = em_s["sample_steps"]
    temperature = TemperatureScheduler(em_s["epsilon_max"], em_s["tau_star"], n_steps=steps,
                                       t_end=1.0)
    langevin = LangevinDynamics(model=em, step_size=em_s["step_size"], noise_scale=temperature)
    samples = langevin.sample(x=noise.clone(), n_steps=steps)
    grid = torch.tensor(d["grid"], dtype=torch.float32)
    held = torch.tensor(d["held_out"], dtype=torch.float32)
    with torch.no_grad():
        grid_energy = torch.cat([em(chunk) for chunk in grid.split(8192)])
        held_energy = em(held)
    out["em"] = {"samples": tolist(samples), "train_s": seconds,
                 "grid_energy": tolist(grid_energy), "held_out_energy": tolist(held_energy)}
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.data, "settings.json")) as f:
        s = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    for name in s["sets"]:
        started = time.perf_counter()
        result = run_set(s, os.path.join(args.data, f"{name}.json"))
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(result, f)
        print(f"torchebm {name}: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
