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
    sa.Index(None, "user_id"),
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
    _id("user_id", nullable=True),
    _id("project_id", nullable=True),
    _id("domain_id", nullable=True),
    # milliseconds since the epoch: exact on every backend, compared with the token's.
    sa.Column("issued_before_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", TIMESTAMP, nullable=False),
    sa.Index(None, "audit_id"),
    sa.Index(None, "user_id"),
    sa.Index(None, "project_id"),
    sa.Index(None, "domain_id"),
    **MYSQL,
)
