"""Model architectures, their registry and presets, and reduced-precision copies for decoding."""
