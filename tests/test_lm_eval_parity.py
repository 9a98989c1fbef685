"""ptlab's scores are lm-evaluation-harness's: benchmarks/lm_eval_parity.py runs both CLIs on one
tiny random Llama folder and the first 32 SST-2 dev examples, with the same template and choices,
and every per-example log-likelihood and the accuracy must agree (the figures ptlab reports can be
set beside lm-eval's)."""

import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow
pytest.importorskip("lm_eval")  # the dev extra (pyproject.toml)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import lm_eval_parity  # noqa: E402


def test_ptlab_and_lm_eval_give_the_same_log_likelihoods_and_accuracy(compose_run, shared_cache, data_dir, tmp_path):
    from ptlab.kinds import Head
    from ptlab.models.loading import load_model, load_tokenizer

    run = compose_run("model=tiny-llama", "method=zero_shot")
    torch.manual_seed(0)
    folder = tmp_path / "tiny-llama"
    load_model(run.model, shared_cache, Head.causal_lm).save_pretrained(folder)
    load_tokenizer(run.model, shared_cache).save_pretrained(folder)

    result = lm_eval_parity.measure(folder, data_dir, batch=8, rounds=1, model="tiny-llama", limit=32)
    print(lm_eval_parity.summary(result))
    assert result["examples"] == 32  # the same prompts and gold labels in the same order (compare checks)
    assert result["max_abs_loglik_diff"] <= 1e-4
    assert result["predictions_agree"] == 32
    assert result["correct"]["ptlab"] == result["correct"]["lm_eval"]
    assert result["accuracy"]["ptlab"] == pytest.approx(result["accuracy"]["lm_eval"], abs=1e-6)
