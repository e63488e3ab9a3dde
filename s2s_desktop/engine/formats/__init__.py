"""Files the engine reads and writes: the .s2s model file and safetensors helpers (next: importers, exporters)."""
