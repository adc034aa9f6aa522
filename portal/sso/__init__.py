"""Single sign-on through the company's OpenID Provider (OpenID Connect, mozilla-django-oidc).

config: the settings read and checked; discovery: the provider's metadata and signing keys;
tokens: the ID token checks; services: the account, its roles and the audit trail of a sign-in;
backend: the library's authentication backend, fed by discovery; views and urls: /oidc/...
"""
