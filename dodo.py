from autoresearch.tasks import *  # noqa: F401,F403  (doit loop | setup | results | ...)
