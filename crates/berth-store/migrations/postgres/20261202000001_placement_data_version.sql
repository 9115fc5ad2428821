-- The data version on PostgreSQL is a sequence: nextval neither waits for a
-- row lock nor for a commit's WAL flush, so the bump after every write does
-- not serialize concurrent writers (an UPDATE of the one placement_state row
-- did). placement_state stays (SQLite keeps its version there).
CREATE SEQUENCE placement_data_version;
SELECT setval('placement_data_version', (SELECT version + 1 FROM placement_state WHERE id = 1));
