"""Application credentials: a user's delegation of (some of) their roles on one project
to an application, which authenticates with an id and a secret instead of a password.

``models`` holds the entities, ``service`` the rules (create, read, delete, the access
rules they carry), ``authentication`` what the token layer calls: checking a secret and
the roles a credential still confers.
"""
