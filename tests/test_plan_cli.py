"""ptlab-plan as a user calls it: a table that marks what does not fit with the cheapest change that
would, and bad input as one line and exit 2 before anything is traced."""

import json
from pathlib import Path

import pytest

from ptlab.planning.cli import main
from ptlab.planning.devices import GPUS

LLAMA_3_8B = Path(__file__).resolve().parents[1] / "benchmarks" / "plans" / "llama-3-8b.json"
BF16 = ["task=sst2", "trainer.precision=bf16-mixed", "+model.dtype=bfloat16"]


@pytest.mark.slow
def test_what_does_not_fit_is_marked_with_a_change_that_fits(tmp_path, capsys, data_dir, cli_cache):
    """Llama-3-8B at batch 4 x 1024 on one A100-80G: LoRA fits as asked; full fine-tuning (weights,
    gradients and AdamW's two moments in fp32: 16 bytes a weight, 120 GiB before activations) does
    not, and the change the plan offers fits by its own estimate."""
    rows_file = tmp_path / "rows.json"
    paths = [f"paths.data_dir={data_dir}", f"paths.cache_dir={cli_cache}"]
    main(
        ["--config-json", str(LLAMA_3_8B), *BF16, *paths, "--device", "a100-80g", "--batch", "4", "--length", "1024"]
        + ["--methods", "lora,full_finetune", "--json", str(rows_file)]
    )
    shown = capsys.readouterr().out
    rows = {r["method"]: r for r in json.loads(rows_file.read_text())}
    memory = GPUS["a100-80g"].memory
    lora, full = rows["lora"], rows["full_finetune"]
    assert lora["fits"] and lora["estimate"]["total"] <= memory and lora["fix"] is None
    assert full["parameters"] > 8e9 and full["estimate"]["optimizer"] >= 2 * full["estimate"]["weights"]
    assert not full["fits"] and full["estimate"]["total"] > memory
    assert full["fix"] and full["fix_estimate"]["total"] <= memory
    (line,) = [line for line in shown.splitlines() if line.startswith("| full_finetune ")]
    assert "**no**" in line and line.rstrip(" |").endswith(full["fix"])


@pytest.mark.parametrize(
    "args, named",
    [
        (["--device", "a100"], "a100"),  # not a device ptlab-plan knows
        (["--config-json", "no/such/config.json"], "no/such/config.json"),
        (["model=no-such-model"], "no-such-model"),
        (["model=tiny-llama", "--methods", "lora", "method.r=0"], "method.r"),
        (["model=tiny-llama", "--methods", "no_such_method"], "no_such_method"),
    ],
)
def test_bad_input_is_one_line_naming_it(args, named, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["task=sst2", *args])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and err.startswith("ptlab-plan: error: ") and named in err, err
