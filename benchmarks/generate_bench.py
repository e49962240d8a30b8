"""Throughput of ``kbuild generate``'s openai backend against a local llama-server (SmolLM2-135M-Instruct).

The same seeds (the demo benchmark's edit records, probes stripped) are expanded with the reply
cache off, first one call at a time, then ``--concurrency`` calls at once (the driver's thread pool,
served by llama-server's parallel slots); figures: calls/s, completion tokens/s, failures.

    .venv/bin/python benchmarks/generate_bench.py                 # starts the cached llama-server
    .venv/bin/python benchmarks/generate_bench.py --base-url http://127.0.0.1:8080/v1

Writes benchmarks/results/generate_smollm2-135m-instruct.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from kedit.builder.backends import generation_failed  # noqa: E402
from kedit.builder.llm import OpenAIBackend  # noqa: E402
from kedit.records import read_jsonl  # noqa: E402
from kedit.settings import data_root  # noqa: E402
from tests.fixtures.llama_server import LLAMA_MODEL, start_llama_server, stop_llama_server  # noqa: E402


def run_once(base_url: str, seeds, concurrency: int, max_tokens: int) -> dict:
    b = OpenAIBackend(llm_model=LLAMA_MODEL, base_url=base_url, use_cache=False, max_tokens=max_tokens,
                      request_timeout=600, max_retries=2, concurrency=concurrency)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        outs = list(ex.map(b.expand, seeds))
    wall = time.perf_counter() - t0
    f = b.figures()
    return {
        "concurrency": concurrency, "cases": len(seeds), "wall_s": round(wall, 2), "calls": f["calls"],
        "calls_per_s": round(f["calls"] / wall, 4), "completion_tokens": f["completion_tokens"],
        "completion_tokens_per_s": round(f["completion_tokens"] / wall, 2), "prompt_tokens": f["prompt_tokens"],
        "failed_cases": sum(generation_failed(o) for o in outs), "probes": sum(len(o.probes) for o in outs),
        "retries": f["retries"], "structured_output": f["structured_output"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", default=None, help="a running llama-server (default: start the cached one)")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2, help="llama-server threads when started here")
    args = ap.parse_args()
    seeds = [replace(c, probes=(), provenance={}) for c in read_jsonl(data_root() / "demo" / "bench.jsonl")][: args.seeds]
    proc = None
    base_url = args.base_url
    if base_url is None:
        proc, base_url = start_llama_server(threads=args.threads, parallel=max(args.concurrency, 1))
    try:
        runs = [run_once(base_url, seeds, c, args.max_tokens) for c in (1, args.concurrency)]
    finally:
        if proc is not None:
            stop_llama_server(proc)
    one, many = runs
    figures = {
        "server": "llama-server (llama.cpp from llama-cpp-python 0.3.36), SmolLM2-135M-Instruct Q4_1 GGUF",
        "server_flags": f"--parallel {max(args.concurrency, 1)} -c 8192 -t {args.threads}" if proc is not None else "external",
        "prompt_version": "generate.v1", "max_tokens": args.max_tokens, "cache": "off", "runs": runs,
        "speedup_calls_per_s": round(many["calls_per_s"] / one["calls_per_s"], 2) if one["calls_per_s"] else None,
    }
    write_result(f"generate_{LLAMA_MODEL}", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
