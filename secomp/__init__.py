"""secomp: compress deep speech-enhancement models (Tan & Wang, TASLP 2021)."""

__version__ = "0.1.0"
