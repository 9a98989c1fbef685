"""ptlab: compare full fine-tuning, prefix tuning, prompt tuning and zero-shot prompting fairly."""

__version__ = "0.1.0"
