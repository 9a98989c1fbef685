"""Tests never touch the network: the Hub is offline before huggingface_hub is first imported."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
