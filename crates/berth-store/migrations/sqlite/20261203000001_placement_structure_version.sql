-- The structure version: advanced by every write except those that only
-- change allocations (providers, inventories, traits, aggregates, classes,
-- reshapes). A cache of the provider graph whose structure version is
-- current reloads only the usages when the data version moved.
ALTER TABLE placement_state ADD COLUMN structure_version BIGINT NOT NULL DEFAULT 0;
