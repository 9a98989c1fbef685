"""Configuration: the run's typed schema (schema.py) and each group's (method.py, task.py), their
validation before anything loads, the trainer's options, the configs' resolvers, tuning, secrets.

Empty on purpose: importing any of these modules runs this file first, so it imports nothing (the
method registry imports method.py, and schema.py imports the registry)."""
