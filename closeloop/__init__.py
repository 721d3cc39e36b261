"""closeloop: close the loop between ML models in production and their retraining."""

from closeloop.config import Settings, get_settings
from closeloop.errors import CloseloopError

__all__ = ["CloseloopError", "Settings", "__version__", "get_settings"]

__version__ = "0.1.0"
