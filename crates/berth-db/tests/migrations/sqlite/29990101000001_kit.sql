-- Test-only schema for berth-db's own tests.
CREATE TABLE kit_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    amount BIGINT NOT NULL,
    note TEXT
);
