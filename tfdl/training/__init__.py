"""Training core: precision policy, optimizers + schedules, callbacks, distribution, the fit step."""
