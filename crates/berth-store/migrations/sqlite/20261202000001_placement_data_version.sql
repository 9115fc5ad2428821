-- PostgreSQL moves its data version to a sequence in this migration; SQLite
-- keeps it in placement_state (one writer at a time, no lock contention).
-- Advance it so caches built before the upgrade reload.
UPDATE placement_state SET version = version + 1 WHERE id = 1;
