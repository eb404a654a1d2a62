"""30 seeds of projected SGA on the sphere against the ODE dm/dt = (1 - m²) φ'(m)."""

import numpy as np

from attnlab.rng import replicate_keys
from attnlab.subspace import RobbinsMonro, SubspaceModel, closed_form_function, simulate, solve_ode

model = SubspaceModel(d=100, K=100, M=2000, theta=0.25)
keys = replicate_keys(0, 30)  # one root seed, 30 independent runs
traj = simulate(model, keys, steps=1000, schedule=RobbinsMonro(c=2.0, n0=100.0), log_every=200)
ode = solve_ode(traj.m[:, 0], traj.time, phi_prime=closed_form_function(model, order=1))
for t, sga, theory in zip(traj.time, traj.abs_m.mean(0), np.abs(ode).mean(0), strict=True):
    print(f"t = {t:5.2f}   SGA mean |m| = {sga:.3f}   ODE = {theory:.3f}")
