"""Mechanical energy of a state, read from its observation, for the environments where the goal is
reached by pumping energy in (Acrobot, MountainCar).

Their reward is -1 on every step until the goal, so it cannot tell a learner within its
lifetime whether what it is doing works; the energy it has put into the system can
(``lifetime.energy_reward`` shows it beside the reward). Each function takes the environment's
parameters (variants such as ``Acrobot-v1:link_mass_2=2`` change them) and returns a function of
one raw observation (d,) giving the energy scaled to 0 at rest at the bottom and 1 at a
reference height: both links level (Acrobot), resting at the goal (MountainCar). Energy is
conserved by the dynamics when no force acts (up to the integrator and the speed clips), which
``tests/test_energy.py`` checks against gymnax's own steps.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Energy = Callable[[jax.Array], jax.Array]


def acrobot_energy(params: Any) -> Energy:
    """gymnax's Acrobot (angles from hanging down; the mass matrix of its ``dsdt``):
    E = ½ d₁ θ̇₁² + d₂ θ̇₁ θ̇₂ + ½ d₃ θ̇₂² − g ((m₁ l_c1 + m₂ l₁) cos θ₁ + m₂ l_c2 cos(θ₁ + θ₂))."""
    m1, m2, l1 = params.link_mass_1, params.link_mass_2, params.link_length_1
    lc1, lc2, i = params.link_com_pos_1, params.link_com_pos_2, params.link_moi
    g = 9.8  # gymnax's dsdt fixes it
    low = -g * (m1 * lc1 + m2 * l1 + m2 * lc2)  # at rest, hanging: the zero of the scale

    def energy(obs: jax.Array) -> jax.Array:
        c1, s1, c2, s2, w1, w2 = obs[0], obs[1], obs[2], obs[3], obs[4], obs[5]
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * c2) + 2 * i
        d2 = m2 * (lc2**2 + l1 * lc2 * c2) + i
        d3 = m2 * lc2**2 + i
        kinetic = 0.5 * d1 * w1**2 + d2 * w1 * w2 + 0.5 * d3 * w2**2
        c12 = c1 * c2 - s1 * s2  # cos(θ₁ + θ₂)
        potential = -g * ((m1 * lc1 + m2 * l1) * c1 + m2 * lc2 * c12)
        return (kinetic + potential - low) / -low

    return energy


def mountain_car_energy(params: Any) -> Energy:
    """gymnax's MountainCar, per unit mass: its velocity update v += −gravity cos(3x) is the force
    of the potential U(x) = gravity/3 · sin(3x), so E = v²/2 + U(x)."""
    k = params.gravity / 3.0
    low, goal = -k, k * jnp.sin(3.0 * params.goal_position)

    def energy(obs: jax.Array) -> jax.Array:
        x, v = obs[0], obs[1]
        return (0.5 * v**2 + k * jnp.sin(3.0 * x) - low) / (goal - low)

    return energy


ENERGIES: dict[str, Callable[[Any], Energy]] = {
    "Acrobot-v1": acrobot_energy,
    "MountainCar-v0": mountain_car_energy,
}
