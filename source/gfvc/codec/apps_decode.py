"""``python -m gfvc.codec.apps_decode`` = gfvc-decode (for environments without the console script)."""
import sys

from .apps import decode_main

if __name__ == "__main__":
    sys.exit(decode_main())
