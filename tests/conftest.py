"""Shared pytest fixtures."""

from __future__ import annotations

import os

import pytest

# the real servers, one per test session, started on first use: Label Studio and llama-server
from tests.fixtures.label_studio import label_studio  # noqa: F401,E402
from tests.fixtures.llama_server import llama_server_url  # noqa: F401,E402

# Test runs share few CPU cores with other jobs. OpenMP's default spin-waiting then made 2-thread
# torch steps ~25x slower than 1 thread (tiny GPT-2 training, 2-core machine at load average 4-5);
# passive waiting made them as fast as 1 thread. It only takes effect if set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def tiny_kg():
    """The tiny GPT-2 trained on the synthetic knowledge graph (trained once, then loaded from the cache)."""
    from tests.fixtures.tinykg import load_tiny_kg

    return load_tiny_kg()


@pytest.fixture(scope="session")
def tiny_artifacts(tiny_kg):
    """{editor: artifact folder} of MEND, KE and SERAC trained for the tiny model (cached)."""
    from tests.fixtures.trained import TRAINED, tiny_artifact

    return {name: tiny_artifact(tiny_kg, name) for name in TRAINED}


@pytest.fixture
def one_thread():
    """SmolLM2 on a shared CPU: one thread is several times faster than oversubscribed ones."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
