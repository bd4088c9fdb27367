"""Storage with SQLModel: SQLite under REKINDLE_HOME by default, any SQLAlchemy URL by --db."""
