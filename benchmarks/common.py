"""Shared bits of the benchmark scripts: machine description and writing results JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from kedit.eval.scoring import DEFAULT_BATCH_TOKENS, _batches
from kedit.models.text import encode_prompts, encode_targets, pad_batch, pad_id

RESULTS = Path(__file__).resolve().parent / "results"


def machine(device: str = "cpu") -> dict:
    info = {
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    return info


def write_result(name: str, figures: dict, device: str = "cpu") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(device), "figures": figures}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written: {path}")
    return path


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


@torch.no_grad()
def raw_forward(model, tok, pairs, device, batch_tokens=DEFAULT_BATCH_TOKENS):
    seqs = [p + t for p, t in zip(encode_prompts(tok, [p for p, _ in pairs]), encode_targets(tok, [t for _, t in pairs]))]
    batches = [pad_batch([seqs[i] for i in b], pad_id(tok)) for b in _batches([len(s) for s in seqs], batch_tokens)]

    def run():
        for ids, mask in batches:
            model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.log_softmax(-1)

    return run, sum(len(s) for s in seqs)
