"""Training and evaluation engines (torch is imported by the submodules, not here)."""
