"""The emulator: what moto lacks, filled in (see ``local_cloud``'s docstring for each part)."""
