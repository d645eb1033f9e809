"""tgfleet: keep a fleet of Telegram accounts connected through per-account pools."""

__version__ = "0.1.0"
