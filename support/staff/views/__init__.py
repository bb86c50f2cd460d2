"""Staff pages under /staff/, one module per feature; support/staff/urls.py maps them.

Pages render inside the admin's frame (admin/base_site.html with the admin site's context), so
staff move between them and the admin without noticing. Every change is a POST with a CSRF
token, done by a domain function (support/escalations.py, support/goodwill.py).
"""
