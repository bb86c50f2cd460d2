#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A bad setting (voiceproject/settings.py names the variable and what it expects):
        # one line, not a traceback through Django's start-up. --traceback shows it all.
        if "--traceback" in sys.argv:
            raise
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
