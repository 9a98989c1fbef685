"""Measured peak memory of training steps, for ptlab-plan's predictions to be checked against
(tests/test_plan.py; not a test itself).

    python tests/plan_memory.py MODEL BATCH LENGTH METHOD...   ->   one JSON line per method

One process per model, the methods in turn: before each, the last one's tensors are freed and
handed back to the OS (malloc_trim) and the kernel's peak-RSS mark is reset (/proc/self/clear_refs),
so each method's figure is its own: peak RSS during `STEPS` AdamW steps, less the RSS before its
model loaded (the mark is reset again after the load, and the checkpoint file's pages are dropped:
loading is not training). The batch is the planner's (every position labelled).
"""

import ctypes
import gc
import json
import sys

import torch

STEPS = 2


def rss(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def drop_checkpoint_pages() -> None:
    """Unload the pages of the mapped safetensors checkpoint. A base whose weights are views of the
    file touches them again as it trains (and they count, as weights); QLoRA read the whole
    full-precision file to quantize it and keeps it mapped for its unquantized embedding, so 0.4 GiB
    of SmolLM2's file would count as training memory that no device holds. The mapping is private
    and read-only: a dropped page is read from the file again when touched."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as f:
        spans = [line.split()[0] for line in f if line.rstrip().endswith(".safetensors")]
    for span in spans:
        start, end = (int(x, 16) for x in span.split("-"))
        if libc.madvise(start, end - start, 4) != 0:  # MADV_DONTNEED
            raise OSError(ctypes.get_errno(), f"madvise on the checkpoint's mapping {span}")


def measure(model_name: str, method_name: str, batch: int, length: int) -> dict:
    from hydra import compose, initialize_config_dir

    from ptlab.config import resolvers
    from ptlab.config.schema import ROOT
    from ptlab.kinds import kind_class
    from ptlab.methods import method_class
    from ptlab.models import training_memory
    from ptlab.models.families import make_reader
    from ptlab.models.loading import load_model, load_tokenizer
    from ptlab.planning.footprint import real_batch
    from ptlab.config.validation import validate

    resolvers.register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        run = validate(
            compose(
                "train",
                overrides=[
                    f"model={model_name}",
                    f"method={method_name}",
                    "task=sst2",
                    "paths.output_dir=/tmp/ptlab-plan-memory",
                ],
            )
        )
    kind = kind_class(run.task.kind)(run.task)
    head = kind.head(run.model.family)
    reader = make_reader(run.model.family, load_tokenizer(run.model, run.paths.cache_dir), run.task, head)
    method = method_class(run.method.name)(run, kind)
    inputs = real_batch(head, batch, length, len(reader.tokenizer))
    import peft  # noqa: F401 - its import is no training memory: done before the baseline

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM (peak RSS) to the current RSS
    before = rss("VmRSS")
    torch.manual_seed(0)
    backbone = load_model(run.model, run.paths.cache_dir, head, kind.num_labels(), **method.load_options())
    model = method.wrap(backbone, reader).train()
    training_memory.train_in_fp32(model)
    gc.collect()  # what loading alone held goes: a plan is of training, and on a GPU the load
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # happens in host memory, not the device's
    drop_checkpoint_pages()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for _ in range(STEPS):
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    peak = rss("VmHWM")
    del model, backbone, optimizer
    return {"model": model_name, "method": method_name, "measured": peak - before}


if __name__ == "__main__":
    torch.set_num_threads(2)
    name, batch, length, *methods = sys.argv[1:]
    for method in methods:
        result = measure(name, method, int(batch), int(length))
        print(json.dumps(result), flush=True)
