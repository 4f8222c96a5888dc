import pytest

from sslr_cli.reproduce.gpu_times import GPU_STEP_SECONDS, gpu_step_seconds, gpu_train_seconds

H200 = GPU_STEP_SECONDS["NVIDIA H200"]


def test_rows_are_looked_up_exactly_and_generators_without_refinement_ignore_r():
    assert gpu_step_seconds("NVIDIA H200", "paper", "srn", 10, "fp32") == H200[("paper", "srn", 10, "fp32", "eager")]
    assert gpu_step_seconds("NVIDIA H200", "paper", "srn", 20, "fp32", "graphs") == H200[("paper", "srn", 20, "fp32", "graphs")]
    assert gpu_step_seconds("NVIDIA H200", "paper", "mlp", 20, "fp32") == H200[("paper", "mlp", None, "fp32", "eager")]
    assert gpu_step_seconds("NVIDIA H200", "match-paper", "cnn", 5, "fp32") == H200[("match-paper", "cnn", None, "fp32", "eager")]
    assert gpu_step_seconds("NVIDIA H200", "paper", "srn", 15, "fp32") is None  # never interpolated
    assert gpu_step_seconds("NVIDIA A100", "paper", "srn", 10, "fp32") is None
    assert gpu_step_seconds("NVIDIA H200", "match-paper", "srn", 5, "fp32", "graphs") is None  # a path is its own row
    assert gpu_step_seconds("NVIDIA H200", "match-paper", "srn-ri", 5, "fp32") is None  # not timed: not SRN's row


def test_the_r_switch_splits_the_steps():
    r10, r20 = H200[("paper", "srn", 10, "fp32", "graphs")], H200[("paper", "srn", 20, "fp32", "graphs")]
    # the paper's circles schedule: r = 10 for 20000 steps, 20 for 80000
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 100_000, "fp32", 10, 20, 20_000, "graphs") == pytest.approx(
        20_000 * r10 + 80_000 * r20)
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 1000, "fp32", 10, 20, 20_000, "graphs") == pytest.approx(1000 * r10)
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 1000, "fp32", 10, 20, -1, "graphs") == pytest.approx(1000 * r10)
    mlp = H200[("paper", "mlp", None, "fp32", "eager")]
    assert gpu_train_seconds("NVIDIA H200", "paper", "mlp", 100, "fp32", 10, 20, 50) == pytest.approx(100 * mlp)
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 100, "tf32", 10, 20, 50) is None
    # bf16 replay is measured at r = 20 only: a schedule that needs r = 10 has no estimate
    assert gpu_train_seconds("NVIDIA H200", "paper", "srn", 100, "bf16", 10, 20, 50, "graphs") is None
