-- The process that holds a lease (its liveness key, see berth_db::Liveness):
-- on PostgreSQL a lease whose owner holds no liveness lock is taken over at
-- once instead of when it runs out. NULL on SQLite and when not leased.
ALTER TABLE compute_tasks ADD COLUMN claimed_proc BIGINT;
ALTER TABLE compute_outbox ADD COLUMN claimed_proc BIGINT;
