"""A call recording's GridFS file, as a model only so that downloading one is a permission of
its own (`postcall.download_recording`). The files are read and written by postcall/store.py."""

from __future__ import annotations

from django.db import models


class Recording(models.Model):
    filename = models.CharField(max_length=200)
    length = models.BigIntegerField()

    class Meta:
        managed = False  # GridFS owns the collection (recordings.files)
        db_table = "recordings.files"
        default_permissions = ()
        permissions = [("download_recording", "Can download and play call recordings")]

    def __str__(self) -> str:
        return self.filename
