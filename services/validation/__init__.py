"""Order validation: checks as data, asked of each domain's system of record."""
