"""Fixtures shared by every test directory."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests run tiny tensor ops; with 2 xdist workers on 2 shared cores intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
