"""The registry: data model, migrations, code minting, lifecycle, history, lineage, crosswalk and
admin areas of city entities, on PostGIS."""
