"""Settings for benchmarks/save_floor.py: the demo site's, with a plain admin and no channel
layer (the floor announces nothing through Channels)."""

from project.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.floor_urls"
CHANNEL_LAYERS: dict = {}
