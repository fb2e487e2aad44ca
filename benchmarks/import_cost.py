"""What ``import graphkd`` costs over ``import torch, torchvision``: resident memory and time.

Each repeat runs in a fresh interpreter: it imports torch and torchvision, reads its
resident set size (``VmRSS``), imports graphkd, and reads it again. It then builds a DGL
graph (the first moment DGL is imported) and reports the memory after that too.

Run ``python benchmarks/import_cost.py``; the numbers are quoted in docs/benchmarks.rst.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, time

def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

import torch, torchvision
base = rss_mib()
start = time.perf_counter()
import graphkd
seconds = time.perf_counter() - start
after_import = rss_mib()
loaded = "dgl" in sys.modules
graphkd.KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), num_nodes=2).topology
print(json.dumps({"seconds": seconds, "import_mib": after_import - base,
                  "with_dgl_mib": rss_mib() - base, "dgl_at_import": loaded}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for _ in range(args.repeats)
    ]
    for key in ("import_mib", "with_dgl_mib", "seconds"):
        values = [run[key] for run in runs]
        print(
            f"{key}: median {statistics.median(values):.2f} "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )
    print("DGL imported by `import graphkd`:", any(run["dgl_at_import"] for run in runs))


if __name__ == "__main__":
    main()
