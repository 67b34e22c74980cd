"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_area',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.Text(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("level IN ('district', 'street', 'community', 'grid')", name='admin_area_level'),
    sa.PrimaryKeyConstraint('code'),
    schema='citytwin'
    )
    op.create_index('admin_area_geom_idx', 'admin_area', ['geom'], unique=False, schema='citytwin', postgresql_using='gist')
    op.create_index('admin_area_level_idx', 'admin_area', ['level'], unique=False, schema='citytwin')
    op.create_table('category_major',
    sa.Column('code', sa.String(length=2), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('standard', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code'),
    schema='citytwin'
    )
    op.create_table('county',
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('code'),
    schema='citytwin'
    )
    op.create_table('import_batch',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('dataset', sa.Text(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('file_name', sa.Text(), nullable=True),
    sa.Column('file_hash', sa.Text(), nullable=True),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    schema='citytwin'
    )
    op.create_table('serial_counter',
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('category', sa.String(length=4), nullable=False),
    sa.Column('last_serial', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('county', 'category'),
    schema='citytwin'
    )
    op.create_table('category',
    sa.Column('code', sa.String(length=4), nullable=False),
    sa.Column('major', sa.String(length=2), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('geometry_types', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('standard', sa.Boolean(), nullable=False),
    sa.Column('tolerance_m', sa.Double(), nullable=False),
    sa.CheckConstraint('substr(code, 1, 2) = major', name='category_in_major'),
    sa.ForeignKeyConstraint(['major'], ['citytwin.category_major.code'], ),
    sa.PrimaryKeyConstraint('code'),
    schema='citytwin'
    )
    op.create_table('entity',
    sa.Column('code', sa.String(length=17), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('category', sa.String(length=4), nullable=False),
    sa.Column('serial', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('condition', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('dept_admin', sa.Text(), nullable=True),
    sa.Column('dept_owner', sa.Text(), nullable=True),
    sa.Column('dept_maintainer', sa.Text(), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('street_code', sa.Text(), nullable=True),
    sa.Column('community_code', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.Text(), nullable=True),
    sa.Column('h3', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("code ~ '^[0-9]{17}$'", name='entity_code_digits'),
    sa.CheckConstraint("condition IS NULL OR condition IN ('intact', 'damaged', 'lost', 'occupied')", name='entity_condition'),
    sa.CheckConstraint("status IN ('provisional', 'active', 'suspended', 'retired', 'void')", name='entity_status'),
    sa.ForeignKeyConstraint(['category'], ['citytwin.category.code'], ),
    sa.PrimaryKeyConstraint('code'),
    schema='citytwin'
    )
    op.create_index('entity_category_idx', 'entity', ['category'], unique=False, schema='citytwin')
    op.create_index('entity_community_idx', 'entity', ['community_code'], unique=False, schema='citytwin')
    op.create_index('entity_geom_idx', 'entity', ['geom'], unique=False, schema='citytwin', postgresql_using='gist')
    op.create_index('entity_grid_idx', 'entity', ['grid_code'], unique=False, schema='citytwin')
    op.create_index('entity_h3_idx', 'entity', ['h3'], unique=False, schema='citytwin')
    op.create_index('entity_street_idx', 'entity', ['street_code'], unique=False, schema='citytwin')
    op.create_table('crosswalk',
    sa.Column('dataset', sa.Text(), nullable=False),
    sa.Column('source_id', sa.Text(), nullable=False),
    sa.Column('code', sa.String(length=17), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['code'], ['citytwin.entity.code'], ),
    sa.PrimaryKeyConstraint('dataset', 'source_id'),
    schema='citytwin'
    )
    op.create_index('crosswalk_code_idx', 'crosswalk', ['code'], unique=False, schema='citytwin')
    op.create_table('entity_version',
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=17), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=4), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('condition', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('dept_admin', sa.Text(), nullable=True),
    sa.Column('dept_owner', sa.Text(), nullable=True),
    sa.Column('dept_maintainer', sa.Text(), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('street_code', sa.Text(), nullable=True),
    sa.Column('community_code', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.Text(), nullable=True),
    sa.Column('h3', sa.BigInteger(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('change', sa.Text(), nullable=False),
    sa.Column('changed', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['code'], ['citytwin.entity.code'], ),
    sa.PrimaryKeyConstraint('code', 'version'),
    sa.UniqueConstraint('seq'),
    schema='citytwin'
    )
    op.create_table('lineage',
    sa.Column('from_code', sa.String(length=17), nullable=False),
    sa.Column('to_code', sa.String(length=17), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('happened_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("kind IN ('split', 'merge', 'replace')", name='lineage_kind'),
    sa.CheckConstraint('from_code <> to_code', name='lineage_not_self'),
    sa.ForeignKeyConstraint(['from_code'], ['citytwin.entity.code'], ),
    sa.ForeignKeyConstraint(['to_code'], ['citytwin.entity.code'], ),
    sa.PrimaryKeyConstraint('from_code', 'to_code'),
    schema='citytwin'
    )
    op.create_index('lineage_to_idx', 'lineage', ['to_code'], unique=False, schema='citytwin')
    # The one definition of admin placement, shared by every writer (registry and loaders):
    # the area of a level that contains an entity's representative point.
    op.execute("""
        CREATE FUNCTION citytwin.area_code(lvl text, pt geometry) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT a.code FROM citytwin.admin_area a
            WHERE a.level = lvl AND ST_Intersects(a.geom, pt)
            ORDER BY a.code LIMIT 1
        $$
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION citytwin.area_code(text, geometry)")
    op.drop_index('lineage_to_idx', table_name='lineage', schema='citytwin')
    op.drop_table('lineage', schema='citytwin')
    op.drop_table('entity_version', schema='citytwin')
    op.drop_index('crosswalk_code_idx', table_name='crosswalk', schema='citytwin')
    op.drop_table('crosswalk', schema='citytwin')
    op.drop_index('entity_street_idx', table_name='entity', schema='citytwin')
    op.drop_index('entity_h3_idx', table_name='entity', schema='citytwin')
    op.drop_index('entity_grid_idx', table_name='entity', schema='citytwin')
    op.drop_index('entity_geom_idx', table_name='entity', schema='citytwin', postgresql_using='gist')
    op.drop_index('entity_community_idx', table_name='entity', schema='citytwin')
    op.drop_index('entity_category_idx', table_name='entity', schema='citytwin')
    op.drop_table('entity', schema='citytwin')
    op.drop_table('category', schema='citytwin')
    op.drop_table('serial_counter', schema='citytwin')
    op.drop_table('import_batch', schema='citytwin')
    op.drop_table('county', schema='citytwin')
    op.drop_table('category_major', schema='citytwin')
    op.drop_index('admin_area_level_idx', table_name='admin_area', schema='citytwin')
    op.drop_index('admin_area_geom_idx', table_name='admin_area', schema='citytwin', postgresql_using='gist')
    op.drop_table('admin_area', schema='citytwin')
