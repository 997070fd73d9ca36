"""`python -m cni_plugins`: the plugin in-process (the shim's fallback)."""

import logging
import os
import sys

from cni_plugins.plugin import main

logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                    format="%(asctime)s %(levelname)s %(name)s %(message)s")
sys.exit(main(os.environ, sys.stdin.buffer, sys.stdout))
