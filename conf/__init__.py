"""synthgen's Hydra configs, installed as ``synthgen.conf`` (one primary config per command)."""
