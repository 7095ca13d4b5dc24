"""Float64 references for the flow-era losses, from TorchEBM 0.8.9 itself.

    python3 -m venv venv && venv/bin/pip install torchebm==0.8.9
    venv/bin/python crates/ebm-train/tests/data/flow_losses.py \
        crates/ebm-reference/data/mlp_energy.json > crates/ebm-train/tests/data/flow_losses.json

Flow matching and Equilibrium Matching train TorchEBM's `TimeConditionedMLP` (concat
conditioning, 2 -> 16 -> 16 -> 2, an 8-wide time embedding of 8 sinusoidal features, 3 classes);
Energy Matching trains the MLP energies of `mlp_energy.json`. Every loss is TorchEBM's class,
called on fixed inputs: the noise `x0` is passed in, the times come from a `t_sampler` returning
the stored `t`, Energy Matching's smoothing noise and Langevin negatives are the stored ones.
"""
import json
import sys

import torch
import torchebm
from torchebm.losses import (EnergyMatchingLoss, EquilibriumMatchingLoss,
                             FlowMatchingLoss)
from torchebm.models import TimeConditionedMLP
from torchebm.models.components import MLPTimestepEmbedder

torch.set_default_dtype(torch.float64)
F64 = torch.float64
gen = torch.Generator().manual_seed(20261202)


def rounded(shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).mul(1e6).round().div(1e6)


def tolist(t):
    return t.detach().tolist()


# --- the field model -------------------------------------------------------------------------
field = TimeConditionedMLP(
    in_dim=2, hidden_dim=16, depth=2, conditioning="concat", cond_dim=8, num_classes=3,
    t_embedder=MLPTimestepEmbedder(8, frequency_embedding_size=8),
).double()
with torch.no_grad():
    for name, p in field.named_parameters():
        fan_in = p.shape[-1] if p.dim() == 2 else 4
        p.copy_(rounded(p.shape, 1.0 / fan_in ** 0.5))
field_params = {name: tolist(p) for name, p in field.named_parameters()}

n = 8
x0 = rounded((n, 2))
x1 = rounded((n, 2)) * 0.5 + torch.tensor([1.5, -0.5])
t = torch.rand(n, generator=gen).mul(1e6).round().div(1e6)
labels = torch.tensor([0, 1, 2, 3, 0, 2, 1, 3])  # 3 is the null label


def fixed_t(batch, **_):
    return t.clone()


def case(loss, y=None):
    field.zero_grad()
    kwargs = {} if y is None else {"y": y}
    value = loss.training_losses(x1.clone(), model_kwargs=kwargs, x0=x0.clone())["loss"].mean()
    value.backward()
    return {
        "loss": value.item(),
        "param_grads": {name: tolist(p.grad) for name, p in field.named_parameters()
                        if p.grad is not None},
    }


fm = {}
for interpolant in ["linear", "cosine", "vp"]:
    fm[interpolant] = case(FlowMatchingLoss(field, interpolant=interpolant, t_sampler=fixed_t, dtype=F64))
fm["linear_labels"] = case(FlowMatchingLoss(field, t_sampler=fixed_t, dtype=F64), y=labels)
fm["linear_negated"] = case(FlowMatchingLoss(field, t_sampler=fixed_t, dtype=F64, negate_velocity=True))
fm["linear_exact_ot"] = case(FlowMatchingLoss(field, t_sampler=fixed_t, dtype=F64, coupling="exact_ot"))

eqm = {}
eqm["implicit"] = case(EquilibriumMatchingLoss(field, t_sampler=fixed_t, dtype=F64))
eqm["implicit_cosine"] = case(
    EquilibriumMatchingLoss(field, t_sampler=fixed_t, dtype=F64, interpolant="cosine"))
eqm["implicit_linear_scale"] = case(
    EquilibriumMatchingLoss(field, t_sampler=fixed_t, dtype=F64, ct="linear", ct_multiplier=2.0))
eqm["constant_true_time"] = case(EquilibriumMatchingLoss(
    field, t_sampler=fixed_t, dtype=F64, ct="constant", ct_multiplier=1.0, time_invariant=False))
eqm["dot"] = case(EquilibriumMatchingLoss(field, t_sampler=fixed_t, dtype=F64, energy_type="dot"))
eqm["l2"] = case(EquilibriumMatchingLoss(field, t_sampler=fixed_t, dtype=F64, energy_type="l2"))
eqm["dot_labels"] = case(
    EquilibriumMatchingLoss(field, t_sampler=fixed_t, dtype=F64, energy_type="dot"), y=labels)

with torch.no_grad():
    field_out = field(x1, t, labels)
    field_out_unlabelled = field(x1, t)


# --- Energy Matching on the MLP energies of mlp_energy.json -----------------------------------
mlp_file = json.load(open(sys.argv[1]))


class MlpEnergy(torchebm.core.BaseModel):
    def __init__(self, params, activation):
        super().__init__()
        self.layers = torch.nn.ModuleList()
        for k in (1, 2, 3):
            w = torch.tensor(params[f"W{k}"])
            layer = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                layer.weight.copy_(w)
                layer.bias.copy_(torch.tensor(params[f"b{k}"]))
            self.layers.append(layer)
        self.act = torch.nn.SiLU() if activation == "silu" else torch.nn.Softplus()

    def forward(self, x):
        h = self.act(self.layers[0](x))
        h = self.act(self.layers[1](h))
        return self.layers[2](h).squeeze(-1)


em_x1 = torch.tensor(mlp_file["inputs"]["x"])
em_neg = torch.tensor(mlp_file["inputs"]["neg"])
em_x0 = rounded(em_x1.shape)
em_smoothing = rounded(em_x1.shape)
em_t = torch.rand(em_x1.shape[0], generator=gen).mul(1e6).round().div(1e6)
real_randn_like = torch.randn_like


def em_case(model, **config):
    loss = EnergyMatchingLoss(model, t_sampler=lambda b, **_: em_t.clone(), dtype=F64,
                              **config)
    loss._sample_negatives = lambda *a, **k: em_neg.clone()
    torch.randn_like = lambda x, **_: em_smoothing.clone()
    try:
        model.zero_grad()
        terms = loss.training_losses(em_x1.clone(), x0=em_x0.clone())
    finally:
        torch.randn_like = real_randn_like
    terms["loss"].backward()
    names = {"layers.0.weight": "W1", "layers.0.bias": "b1", "layers.1.weight": "W2",
             "layers.1.bias": "b2", "layers.2.weight": "W3", "layers.2.bias": "b3"}
    return {
        "loss": terms["loss"].item(),
        "flow_loss": terms["flow_loss"].item(),
        "cd_loss": terms["cd_loss"].item(),
        # The flow term does not see the output bias: its gradient is None, stored as zeros.
        "param_grads": {names[k]: tolist(p.grad if p.grad is not None else torch.zeros_like(p))
                        for k, p in model.named_parameters()},
    }


em = {}
for m in mlp_file["models"]:
    model = MlpEnergy(m["params"], m["activation"])
    em[m["name"]] = {
        "phase1_independent": em_case(model, coupling="independent", lambda_cd=0.0),
        "phase1_exact_ot_no_smoothing": em_case(model, coupling="exact_ot", lambda_cd=0.0,
                                                sigma=0.0),
        "phase1_cutoff_0.5": em_case(model, coupling="independent", lambda_cd=0.0,
                                     flow_weight_cutoff=0.5),
        "phase2": em_case(model, coupling="independent", lambda_cd=2.0, cd_clamp=None,
                          cd_trim_fraction=0.25),
        "phase2_clamped": em_case(model, coupling="independent", lambda_cd=2.0,
                                  cd_clamp=0.02, cd_trim_fraction=0.0),
    }

json.dump({
    "description": __doc__,
    "generated_with": {"torch": torch.__version__, "torchebm": "0.8.9", "dtype": "float64"},
    "conventions": {
        "weights": "torch orientation: Linear weight [out][in]; embedding [rows][width]",
        "field": "TimeConditionedMLP(in_dim=2, hidden_dim=16, depth=2, conditioning='concat', "
                 "cond_dim=8, num_classes=3, t_embedder=MLPTimestepEmbedder(8, "
                 "frequency_embedding_size=8)); net.0 takes [x | c], c = t_emb(t) + y_emb(y)",
        "losses": "training_losses(x1, model_kwargs, x0)['loss'].mean(); defaults of TorchEBM "
                  "unless the case name says otherwise (EqM: ct truncated 0.8 x 4, zeroed "
                  "clock; EM: sigma 0.1, cutoff 0.8)",
    },
    "field": {"params": field_params, "x0": tolist(x0), "x1": tolist(x1), "t": tolist(t),
              "labels": labels.tolist(), "output": tolist(field_out),
              "output_unlabelled": tolist(field_out_unlabelled),
              "flow_matching": fm, "equilibrium_matching": eqm},
    "energy_matching": {"x0": tolist(em_x0), "t": tolist(em_t),
                        "smoothing_noise": tolist(em_smoothing), "cases": em},
}, sys.stdout)
