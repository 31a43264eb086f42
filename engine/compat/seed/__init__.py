"""The seed engine's code API: module paths (``modules.SEED_MODULES``), names and
behaviour. See doc/seed.md for every seed name and where it lives in ours."""
