"""The catalog: SQLAlchemy models, sessions, bulk writes and the queries every stage makes."""
