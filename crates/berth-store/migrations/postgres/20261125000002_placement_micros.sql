-- Placement times in microseconds since the epoch, berth's one time
-- representation (berth-time); they were seconds. Same file in ../sqlite/.
UPDATE resource_classes SET created_at = created_at * 1000000, updated_at = updated_at * 1000000;
UPDATE traits SET created_at = created_at * 1000000, updated_at = updated_at * 1000000;
UPDATE resource_providers SET created_at = created_at * 1000000, updated_at = updated_at * 1000000;
UPDATE inventories SET created_at = created_at * 1000000, updated_at = updated_at * 1000000;
UPDATE consumers SET created_at = created_at * 1000000, updated_at = updated_at * 1000000;
UPDATE allocations SET created_at = created_at * 1000000, updated_at = updated_at * 1000000;
