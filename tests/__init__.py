"""CityOps tests: ``unit/`` mirrors the packages (no broker), ``integration/`` runs the real embedded stack."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
