"""Step time and memory of the HKD loss, against vanilla KD on the same batch.

For each setting (batch B, bank size N, negatives per sample K, bank storage type) this
times one forward + backward pass of the whole HKD loss: the two embed heads, the kNN
graphs over both networks' predictions, the two TAGConv encoders, the bank reads of the
positives and of the K sampled negatives (drawn anew each pass), and the four InfoNCE
terms. It uses ``measure`` from benchmarks/presets.py, so figures are comparable with that
table: the median over repeats, and as memory the peak allocated CUDA memory (which holds
the resident banks) or, on the CPU, the bytes autograd saves for the backward pass (the
dense-score path saves a reference to the whole bank, counted there). The bank update of
``after_step`` is timed on its own, and the banks' bytes are listed. Vanilla KD
(``create_method("kd")``) on the same logits is the unit of the ratios.

"scores" says how the negatives' similarities are computed: ``dense`` multiplies the
anchors with the whole bank and picks the sampled entries (the default while N <= 32 K),
``gathered`` gathers the (B, K, 128) rows (the default for larger banks); "(forced)"
marks a setting run with the other path than the default, to compare.

Logits and embeddings are random with C = D = 100 (``measure``'s inputs); N = 50,000 is
CIFAR-100's training set and N = 1,281,167 ImageNet's.

Run ``python benchmarks/hkd.py --devices cuda cpu --out benchmarks/results/hkd.md``; on a
CPU shared with other work, ``--threads 1`` keeps small operations from waiting on
descheduled threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from typing import List, NamedTuple

import torch
from presets import measure, write_table

import graphkd

WIDTH = 100
MIB = 2**20
KD_REPEATS = 100  # KD takes about a millisecond: many repeats keep its median steady


class Setting(NamedTuple):
    method: str
    batch: int
    num_samples: int
    nce_k: int
    bank_dtype: str
    scores: str  # "auto", or "dense" / "gathered" forced


SETTINGS = [
    Setting("hkd", 64, 50_000, 16_384, "float32", "auto"),
    Setting("hkd", 64, 50_000, 16_384, "float32", "gathered"),
    Setting("hkd", 64, 50_000, 16_384, "float16", "auto"),
    Setting("hkd_kd", 64, 50_000, 16_384, "float32", "auto"),
    Setting("hkd", 64, 50_000, 4_096, "float32", "auto"),
    Setting("hkd", 64, 50_000, 4_096, "float32", "gathered"),
    Setting("hkd", 256, 50_000, 16_384, "float32", "auto"),
    Setting("hkd", 64, 1_281_167, 16_384, "float32", "auto"),
]
FORCED_RATIO = {"dense": float("inf"), "gathered": 0}


def build(setting: Setting, device: torch.device) -> torch.nn.Module:
    labels = torch.arange(setting.num_samples) % 100
    distiller = graphkd.create_method(
        setting.method,
        teacher_dim=WIDTH,
        student_dim=WIDTH,
        labels=labels,
        nce_k=setting.nce_k,
        bank_dtype=setting.bank_dtype,
    ).to(device)
    if setting.scores in FORCED_RATIO:
        for bank in (distiller.bank_s, distiller.bank_t):
            bank.DENSE_RATIO = FORCED_RATIO[setting.scores]
    return distiller


def time_after_step(distiller, index: torch.Tensor, device: torch.device, repeats: int) -> float:
    generator = torch.Generator(device=device).manual_seed(0)
    batch = index.shape[0]

    def responses() -> graphkd.Responses:
        return graphkd.Responses(
            logits=torch.randn(batch, WIDTH, device=device, generator=generator),
            embedding=torch.randn(batch, WIDTH, device=device, generator=generator),
            index=index,
        )

    teacher, student = responses(), responses()
    times: List[float] = []
    for _ in range(repeats + 2):
        with torch.no_grad():
            distiller(teacher, student)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        distiller.after_step(teacher, student)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def run(device: torch.device, repeats: int) -> List[str]:
    memory_kind = "peak CUDA memory" if device.type == "cuda" else "memory saved for backward"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    rows = [
        f"Device: {device} ({name}, {torch.get_num_threads()} CPU threads), torch "
        f"{torch.__version__}; memory = {memory_kind}; median of {repeats} "
        f"forward+backward passes ({KD_REPEATS} for KD); C = D = 100.",
        "",
        "| method | B | N | K | bank | scores | HKD ms | KD ms | time / KD | after_step ms "
        "| HKD MiB | KD MiB | memory / KD | banks MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for setting in SETTINGS:
        kd_time, kd_memory = measure(
            lambda t, s: graphkd.create_method("kd")(t, s)["loss"],
            setting.batch,
            WIDTH,
            device,
            KD_REPEATS,
        )
        distiller = build(setting, device)
        index = torch.randperm(setting.num_samples, device=device)[: setting.batch]

        def loss(t, s, d=distiller, i=index):
            t, s = dataclasses.replace(t, index=i), dataclasses.replace(s, index=i)
            return d(t, s)["loss"]

        hkd_time, hkd_memory = measure(loss, setting.batch, WIDTH, device, repeats)
        update_time = time_after_step(distiller, index, device, repeats)
        banks = sum(
            b.memory.numel() * b.memory.element_size() for b in (distiller.bank_s, distiller.bank_t)
        )
        rows.append(
            f"| {setting.method} | {setting.batch} | {setting.num_samples} | {setting.nce_k} "
            f"| {setting.bank_dtype} | {scores_path(distiller, setting)} "
            f"| {hkd_time * 1e3:.2f} | {kd_time * 1e3:.2f} | {hkd_time / kd_time:.1f} "
            f"| {update_time * 1e3:.2f} | {hkd_memory / MIB:.1f} | {kd_memory / MIB:.2f} "
            f"| {hkd_memory / max(kd_memory, 1):.0f} | {banks / MIB:.1f} |"
        )
        print(rows[-1], flush=True)
        del distiller
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def scores_path(distiller, setting: Setting) -> str:
    if setting.scores in FORCED_RATIO:
        return f"{setting.scores} (forced)"
    dense = setting.num_samples <= distiller.bank_s.DENSE_RATIO * setting.nce_k
    return "dense" if dense else "gathered"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    parser.add_argument("--devices", nargs="+", default=default)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sections: List[str] = []
    for device in args.devices:
        sections.append("\n".join(run(torch.device(device), args.repeats)))
    table = "\n\n".join(sections) + "\n"
    write_table(table, args.out)


if __name__ == "__main__":
    main()
