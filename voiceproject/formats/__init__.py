"""Date formats for the admin and any date shown without a format of its own
(FORMAT_MODULE_PATH): the staff pages write "6 Nov 2026, 15:20", and so does the admin, where
Django's English default is "Nov. 6, 2026, 3:20 p.m."."""
