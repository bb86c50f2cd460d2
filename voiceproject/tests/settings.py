"""The product's settings as the test suite and the servers it starts run them, with one change:
passwords are hashed with MD5 (Django's advice for test suites). The default PBKDF2 costs half a
second of CPU at each sign-in and each person a test makes, which across the browser tests was
minutes of a two-core machine. What a hash costs is not what these tests check; the login
throttle is (and it counts attempts, not time).
"""

from voiceproject.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
