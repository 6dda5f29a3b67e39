"""photocap: caption photo libraries with a Show-Attend-Tell model, write alt text, search it."""

__version__ = "0.1.0"
