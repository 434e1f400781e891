"""The environment wing: learners that act in gymnax and brax environments (SFNN, the baselines,
VSML on environments); the core reaches it through ``agents.rl.family.FAMILY``."""
