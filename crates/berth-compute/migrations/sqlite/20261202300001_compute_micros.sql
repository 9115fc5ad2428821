-- berth stores every instant as microseconds since the Unix epoch
-- (berth-time); compute stored milliseconds. Convert existing rows.
UPDATE compute_flavors SET created_at = created_at * 1000, updated_at = updated_at * 1000;
UPDATE compute_services SET last_seen_up = last_seen_up * 1000, created_at = created_at * 1000, updated_at = updated_at * 1000;
UPDATE compute_nodes SET created_at = created_at * 1000, updated_at = updated_at * 1000;
UPDATE compute_instances SET launched_at = launched_at * 1000, terminated_at = terminated_at * 1000,
    created_at = created_at * 1000, updated_at = updated_at * 1000, deleted_at = deleted_at * 1000;
UPDATE compute_instance_faults SET created_at = created_at * 1000;
UPDATE compute_migrations SET created_at = created_at * 1000, updated_at = updated_at * 1000;
UPDATE compute_tasks SET claimed_until = claimed_until * 1000, created_at = created_at * 1000, updated_at = updated_at * 1000;
UPDATE compute_outbox SET next_attempt_at = next_attempt_at * 1000, created_at = created_at * 1000;
UPDATE compute_availability_zones SET created_at = created_at * 1000;
