"""A run's life: from a validated config to results.json. Building the data, module and Trainer,
training, selecting the best checkpoint, checkpointing and resuming, recording, and what the console
shows while it runs."""
