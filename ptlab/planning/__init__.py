"""ptlab-plan: what a model x method x device needs before a job is queued (memory per device,
step time, what does not fit and the cheapest change that would)."""
