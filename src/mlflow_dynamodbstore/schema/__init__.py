"""The single-table schema: table definition, key formats, attribute names."""
