"""revision counted per writing process (no shared hot row to conflict on Galera)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    bind = op.get_bind()
    row = bind.execute(sa.text("SELECT authz, revocations FROM revision WHERE id = 1")).first()
    op.drop_table('revision')
    op.create_table(
        'revision',
        sa.Column('writer', sa.String(length=32), nullable=False),
        sa.Column('authz', sa.BigInteger(), nullable=False),
        sa.Column('revocations', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('writer', name=op.f('pk_revision')),
        **_MYSQL,
    )
    table = sa.table('revision', sa.column('writer', sa.String), sa.column('authz', sa.BigInteger),
                     sa.column('revocations', sa.BigInteger))
    authz, revocations = (int(row[0]), int(row[1])) if row is not None else (1, 1)
    op.bulk_insert(table, [{'writer': 'initial', 'authz': authz, 'revocations': revocations}])


def downgrade() -> None:
    bind = op.get_bind()
    row = bind.execute(sa.text(
        "SELECT coalesce(sum(authz), 0), coalesce(sum(revocations), 0) FROM revision")).first()
    op.drop_table('revision')
    op.create_table(
        'revision',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('authz', sa.BigInteger(), nullable=False),
        sa.Column('revocations', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_revision')),
        **_MYSQL,
    )
    table = sa.table('revision', sa.column('id', sa.Integer), sa.column('authz', sa.BigInteger),
                     sa.column('revocations', sa.BigInteger))
    authz, revocations = (int(row[0]), int(row[1])) if row is not None else (1, 1)
    op.bulk_insert(table, [{'id': 1, 'authz': authz, 'revocations': revocations}])
