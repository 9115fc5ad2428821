-- The structure version: advanced by every write except those that only
-- change allocations (providers, inventories, traits, aggregates, classes,
-- reshapes). A cache of the provider graph whose structure version is
-- current reloads only the usages when the data version moved. A sequence,
-- as the data version is; the column keeps the schemas of both engines
-- alike (SQLite keeps its versions in placement_state).
ALTER TABLE placement_state ADD COLUMN structure_version BIGINT NOT NULL DEFAULT 0;
CREATE SEQUENCE placement_structure_version;
