"""Tests of graphkd.models: zoo vs the community fixture, functional references, taps, checkpoints."""
