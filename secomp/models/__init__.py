"""Enhancement models, registered by name.

Every model maps a noisy waveform [B, N] to an enhanced one of the same length (`forward`) and
knows its own training loss (`loss(noisy, clean)`), so trainer, evaluator and compressor need no
per-model code. `build_model(name, **hparams)` builds one from its config; a user's own class is
added with `@register("name")`.
"""

from . import crn, gcrn, lstm, sep, tcnn  # noqa: F401,E402  (registration side effect)
from .registry import (  # noqa: F401
    MODELS,
    build_from_config,
    build_model,
    check_hparams,
    model_config,
    register,
)
