import pytest

from sslr_cli.reproduce.gpu_times import gpu_step_seconds, gpu_train_seconds


def test_rows_are_looked_up_exactly_and_mlp_ignores_r():
    assert gpu_step_seconds("NVIDIA H200", "paper", "srn", 10, "fp32") == 0.03486
    assert gpu_step_seconds("NVIDIA H200", "paper", "mlp", 20, "fp32") == 0.01286
    assert gpu_step_seconds("NVIDIA H200", "paper", "srn", 15, "fp32") is None  # never interpolated
    assert gpu_step_seconds("NVIDIA A100", "paper", "srn", 10, "fp32") is None
    assert gpu_step_seconds("NVIDIA H200", "match-paper", "srn", 5, "fp32") is None


def test_the_r_switch_splits_the_steps():
    # the paper's circles schedule: r = 10 for 20000 steps, 20 for 80000
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 100_000, "fp32", 10, 20, 20_000) == pytest.approx(
        20_000 * 0.03486 + 80_000 * 0.07650)
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 1000, "fp32", 10, 20, 20_000) == pytest.approx(1000 * 0.03486)
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 1000, "fp32", 10, 20, -1) == pytest.approx(1000 * 0.03486)
    assert gpu_train_seconds("NVIDIA H200", "paper", "mlp", 100, "fp32", 10, 20, 50) == pytest.approx(100 * 0.01286)
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 100, "tf32", 10, 20, 50) is None
