"""A city's configuration: typed models and the loader of ``config/cities/<city>/``."""

from config.loader import ConfigError, load_city
from config.models import CityConfig

__all__ = ["CityConfig", "ConfigError", "load_city"]
