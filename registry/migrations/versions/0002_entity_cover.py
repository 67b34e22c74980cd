"""entity_cover: H3 cells touched by lines and polygons

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('entity_cover',
    sa.Column('code', sa.String(length=17), nullable=False),
    sa.Column('cell', sa.BigInteger(), nullable=False),
    sa.Column('lo', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['code'], ['citytwin.entity.code'], ),
    sa.PrimaryKeyConstraint('code', 'cell'),
    schema='citytwin'
    )
    op.create_index('entity_cover_lo_idx', 'entity_cover', ['lo'], unique=False, schema='citytwin')
    op.create_index('entity_cover_cell_idx', 'entity_cover', ['cell'], unique=False, schema='citytwin')


def downgrade() -> None:
    op.drop_index('entity_cover_cell_idx', table_name='entity_cover', schema='citytwin')
    op.drop_index('entity_cover_lo_idx', table_name='entity_cover', schema='citytwin')
    op.drop_table('entity_cover', schema='citytwin')
