"""A run's settings: the dataclasses (``schemas``), the named presets (``presets``), settings from text
(``parsing``) and the match task's settings (``match``).

A checkpoint stores ``RunConfig.to_dict()``, so every command rebuilds the model from the checkpoint alone.
This package knows no torch and no model: which generators exist (``ModelConfig.generator``) and what their
own options are (``ModelConfig.generator_options``) is checked by ``sslr_cli.models.registry``, called by
whoever builds a run's config (``engine/run_config.py``).
"""

from sslr_cli.config.match import MATCH_COSTS, REFERENCE_BATCH, MatchSettings
from sslr_cli.config.parsing import convert_option, options_from_dict, parse_key_values
from sslr_cli.config.presets import PRESETS, get_preset
from sslr_cli.config.schemas import (INIT_MODES, LR_SCHEDULES, MAX_INNER_STEPS, MAX_SEED, MODEL_SIZE_LIMITS,
                                     REFINE_PRECISIONS, ModelConfig, RunConfig, TrainConfig, check_inner_steps, check_r,
                                     parse_inner_grad)

__all__ = ["MATCH_COSTS", "REFERENCE_BATCH", "MatchSettings", "convert_option", "options_from_dict", "parse_key_values",
           "PRESETS", "get_preset", "INIT_MODES", "LR_SCHEDULES", "REFINE_PRECISIONS", "ModelConfig", "RunConfig",
           "TrainConfig", "check_r", "check_inner_steps", "parse_inner_grad", "MAX_INNER_STEPS", "MAX_SEED",
           "MODEL_SIZE_LIMITS"]
