"""The devices ptlab-plan knows: memory a run can use and peak dense throughput (vendor data sheets,
without sparsity). `cpu` is this machine: its memory and a matmul it times, so a CPU plan predicts
what a run here will see."""

from __future__ import annotations

import time
from dataclasses import dataclass

GIB = 2**30
GB = 10**9
CUDA_CONTEXT = int(0.75 * GIB)  # what the CUDA context and kernels take before any tensor


@dataclass(frozen=True)
class Device:
    name: str
    memory: int  # bytes a run can allocate
    bf16_flops: float  # peak dense FLOP/s in bf16 (fp32 on a CPU)
    fp32_flops: float
    note: str

    def flops(self, precision: str) -> float:
        return self.bf16_flops if precision.startswith(("bf16", "16")) else self.fp32_flops


def _gpu(name: str, gb: float, bf16_tflops: float, fp32_tflops: float, note: str) -> Device:
    return Device(name, int(gb * GB) - CUDA_CONTEXT, bf16_tflops * 1e12, fp32_tflops * 1e12, note)


# fp32 here is plain FP32 (no TF32): what torch uses for fp32 matmuls unless told otherwise.
GPUS = {
    d.name: d
    for d in (
        _gpu("a100-40g", 40, 312, 19.5, "NVIDIA A100 SXM 40 GB"),
        _gpu("a100-80g", 80, 312, 19.5, "NVIDIA A100 SXM 80 GB"),
        _gpu("h100-80g", 80, 989, 67, "NVIDIA H100 SXM 80 GB"),
        _gpu("h200-141g", 141, 989, 67, "NVIDIA H200 SXM 141 GB"),
        _gpu("l40s-48g", 48, 362, 91.6, "NVIDIA L40S 48 GB"),
        _gpu("a10-24g", 24, 125, 31.2, "NVIDIA A10 24 GB"),
        _gpu("rtx4090-24g", 24, 165, 82.6, "NVIDIA GeForce RTX 4090 24 GB"),
        _gpu("rtx3090-24g", 24, 71, 35.6, "NVIDIA GeForce RTX 3090 24 GB"),
        _gpu("t4-16g", 16, 65, 8.1, "NVIDIA T4 16 GB (fp16; no bf16)"),
    )
}
NAMES = sorted(GPUS) + ["cpu"]


def device(name: str) -> Device:
    if name == "cpu":
        return this_cpu()
    if name not in GPUS:
        raise KeyError(name)
    return GPUS[name]


def this_cpu() -> Device:
    """This machine: MemAvailable from /proc/meminfo, fp32 FLOP/s from a timed 1024^3 matmul."""
    import torch

    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    a = torch.randn(1024, 1024)
    a @ a  # warm-up
    start, repeats = time.perf_counter(), 8
    for _ in range(repeats):
        a @ a
    flops = repeats * 2 * 1024**3 / (time.perf_counter() - start)
    return Device("cpu", available, flops, flops, f"this CPU ({torch.get_num_threads()} threads, timed matmul)")
