"""The schema, as SQLAlchemy Core tables. Migrations under migrations/ build exactly this.

Conventions, kept from Keystone where its clients can notice: ids are strings (UUID hex,
or chosen names such as ``default`` and region ids); a domain is a row of ``project``
with ``is_domain`` true whose ``domain_id`` is the root sentinel, so that one unique key
(domain_id, name) covers domain names and project names alike. Global roles store the
``<<null>>`` sentinel as their domain for the same reason. ``extra`` holds the JSON of the
attributes Keystone accepts beyond its own (it echoes them back). On MariaDB every table
uses a binary collation, so names compare exactly as on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

ROOT_DOMAIN = "<<keystone.domain.root>>"
NULL_DOMAIN = "<<null>>"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"
}


# Microsecond precision everywhere (MariaDB's DATETIME keeps whole seconds by default).
TIMESTAMP = sa.DateTime().with_variant(
    mysql.DATETIME(fsp=6), "mysql", "mariadb"
)


def _id(name: str = "id", **kw: object) -> sa.Column[str]:
    return sa.Column(name, sa.String(64), **kw)  # type: ignore[arg-type]


project = sa.Table(
    "project", metadata,
    _id(primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False),
    _id("domain_id", nullable=False),
    _id("parent_id", nullable=True),
    sa.Column("is_domain", sa.Boolean, nullable=False),
    # The ids above the project, from its domain down to its parent, joined by "/" (empty
    # for a domain): ancestors without a query per level, kept right by moves.
    sa.Column("ancestry", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("extra", sa.Text, nullable=False),
    sa.UniqueConstraint("domain_id", "name"),
    sa.Index(None, "parent_id"),
    **MYSQL,
)

user = sa.Table(
    "user", metadata,
    _id(primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    _id("domain_id", nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    _id("default_project_id", nullable=True),
    sa.Column("extra", sa.Text, nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    # The user's resource options (JSON): ignore_password_expiry, lock_password, ...
    sa.Column("options", sa.Text, nullable=False, server_default="{}"),
    sa.UniqueConstraint("domain_id", "name"),
    **MYSQL,
)

password = sa.Table(
    "password", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("user.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("hash", sa.String(255), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("expires_at", TIMESTAMP, nullable=True),
    # Set by the user themselves (POST /v3/users/{id}/password), not by an administrator:
    # only such a password is held to [security_compliance] minimum_password_age.
    sa.Column("self_service", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "user_id"),
    **MYSQL,
)

# A user's login bookkeeping for [security_compliance]: consecutive failed logins (for the
# lockout) and the day of the last successful one (for disabling inactive users). Kept out
# of ``user`` because it changes on logins, and writing it must not bump the revision (see
# storage/database.py): a flood of wrong passwords would otherwise flush every cache.
login_state = sa.Table(
    "login_state", metadata,
    sa.Column("user_id", sa.String(64), sa.ForeignKey("user.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("failed_count", sa.Integer, nullable=False),
    sa.Column("failed_at", TIMESTAMP, nullable=True),
    sa.Column("last_active_on", sa.Date, nullable=True),
    **MYSQL,
)

group = sa.Table(
    "group", metadata,
    _id(primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    _id("domain_id", nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("extra", sa.Text, nullable=False),
    sa.UniqueConstraint("domain_id", "name"),
    **MYSQL,
)

user_group_membership = sa.Table(
    "user_group_membership", metadata,
    sa.Column("user_id", sa.String(64), sa.ForeignKey("user.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("group_id", sa.String(64), sa.ForeignKey("group.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Index(None, "group_id"),
    **MYSQL,
)

role = sa.Table(
    "role", metadata,
    _id(primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    _id("domain_id", nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("extra", sa.Text, nullable=False),
    sa.UniqueConstraint("name", "domain_id"),
    **MYSQL,
)

implied_role = sa.Table(
    "implied_role", metadata,
    sa.Column("prior_role_id", sa.String(64), sa.ForeignKey("role.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("implied_role_id", sa.String(64), sa.ForeignKey("role.id", ondelete="CASCADE"),
              primary_key=True),
    **MYSQL,
)

# type: {User,Group}{Project,Domain,System}; a system assignment's target_id is "system".
assignment = sa.Table(
    "assignment", metadata,
    sa.Column("type", sa.String(16), primary_key=True),
    _id("actor_id", primary_key=True),
    _id("target_id", primary_key=True),
    sa.Column("role_id", sa.String(64), sa.ForeignKey("role.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("inherited", sa.Boolean, primary_key=True),
    sa.Index(None, "actor_id"),
    sa.Index(None, "target_id"),
    **MYSQL,
)

region = sa.Table(
    "region", metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("parent_region_id", sa.String(255), nullable=True),
    sa.Column("extra", sa.Text, nullable=False),
    **MYSQL,
)

service = sa.Table(
    "service", metadata,
    _id(primary_key=True),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("extra", sa.Text, nullable=False),
    **MYSQL,
)

endpoint = sa.Table(
    "endpoint", metadata,
    _id(primary_key=True),
    sa.Column("interface", sa.String(8), nullable=False),
    sa.Column("region_id", sa.String(255), nullable=True),
    sa.Column("service_id", sa.String(64), sa.ForeignKey("service.id"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("extra", sa.Text, nullable=False),
    **MYSQL,
)

revocation_event = sa.Table(
    "revocation_event", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("audit_id", sa.String(32), nullable=True),
    # the first audit id of a chain of re-scoped tokens: revokes the whole chain
    sa.Column("audit_chain_id", sa.String(32), nullable=True),
    _id("user_id", nullable=True),
    _id("project_id", nullable=True),
    _id("domain_id", nullable=True),
    _id("app_cred_id", nullable=True),
    # milliseconds since the epoch: exact on every backend, compared with the token's.
    sa.Column("issued_before_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", TIMESTAMP, nullable=False),
    sa.Index(None, "audit_id"),
    sa.Index(None, "user_id"),
    sa.Index(None, "project_id"),
    sa.Index(None, "domain_id"),
    **MYSQL,
)

# One row per writing process. Every committed write adds one to its process's row, to
# ``authz`` (anything that can change an authorization answer) or only to ``revocations``
# (a revocation event alone), in the same transaction; the sums are the database's
# revision, which every process compares with its in-memory copy to know when to reload.
# A row per writer, not one shared row: on Galera two nodes updating one row in the same
# instant conflict at certification and one write fails; a writer's own row never does.
revision = sa.Table(
    "revision", metadata,
    sa.Column("writer", sa.String(32), primary_key=True),
    sa.Column("authz", sa.BigInteger, nullable=False),
    sa.Column("revocations", sa.BigInteger, nullable=False),
    **MYSQL,
)

# Token signing keys, wrapped (AES-256-GCM) with the master key each node is given.
# state: staged (accepted, not yet signing), primary (signs), secondary (only verifies).
token_key = sa.Table(
    "token_key", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("kid", sa.String(64), nullable=False),
    sa.Column("wrapped", sa.Text, nullable=False),
    sa.Column("public", sa.Text, nullable=True),  # JWS: the public JWK, published as JWKS
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("promoted_at", TIMESTAMP, nullable=True),
    sa.Column("demoted_at", TIMESTAMP, nullable=True),
    sa.UniqueConstraint("provider", "kid"),
    **MYSQL,
)

# Application credentials (Keystone's four tables). A credential belongs to its user and
# is bound to one project; its secret is stored as an argon2id hash only. Every link is
# ON DELETE CASCADE, so deleting a user, a project or a role cleans up after itself.
application_credential = sa.Table(
    "application_credential", metadata,
    _id(primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("secret_hash", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("user_id", sa.String(64),
              sa.ForeignKey("user.id", ondelete="CASCADE", name="fk_app_cred_user"),
              nullable=False),
    sa.Column("project_id", sa.String(64),
              sa.ForeignKey("project.id", ondelete="CASCADE", name="fk_app_cred_project"),
              nullable=True),
    sa.Column("system", sa.String(64), nullable=True),
    sa.Column("expires_at", TIMESTAMP, nullable=True),
    sa.Column("unrestricted", sa.Boolean, nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.UniqueConstraint("user_id", "name"),
    sa.Index(None, "project_id"),
    **MYSQL,
)

application_credential_role = sa.Table(
    "application_credential_role", metadata,
    sa.Column("application_credential_id", sa.String(64),
              sa.ForeignKey("application_credential.id", ondelete="CASCADE",
                            name="fk_app_cred_role_app_cred"),
              primary_key=True),
    sa.Column("role_id", sa.String(64),
              sa.ForeignKey("role.id", ondelete="CASCADE", name="fk_app_cred_role_role"),
              primary_key=True),
    sa.Index(None, "role_id"),
    **MYSQL,
)

# An access rule is the user's, shared by every credential of theirs that names it.
access_rule = sa.Table(
    "access_rule", metadata,
    _id(primary_key=True),
    sa.Column("user_id", sa.String(64),
              sa.ForeignKey("user.id", ondelete="CASCADE", name="fk_access_rule_user"),
              nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("path", sa.String(225), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.UniqueConstraint("user_id", "service", "path", "method"),
    **MYSQL,
)

application_credential_access_rule = sa.Table(
    "application_credential_access_rule", metadata,
    sa.Column("application_credential_id", sa.String(64),
              sa.ForeignKey("application_credential.id", ondelete="CASCADE",
                            name="fk_app_cred_access_rule_app_cred"),
              primary_key=True),
    sa.Column("access_rule_id", sa.String(64),
              sa.ForeignKey("access_rule.id", ondelete="CASCADE",
                            name="fk_app_cred_access_rule_rule"),
              primary_key=True),
    sa.Index(None, "access_rule_id"),
    **MYSQL,
)
