-- A provider inserted without a root is its own root: set in the INSERT
-- itself, so creating a root provider is one statement.
CREATE TRIGGER resource_providers_root_default AFTER INSERT ON resource_providers
    FOR EACH ROW WHEN NEW.root_id IS NULL
BEGIN
    UPDATE resource_providers SET root_id = NEW.id WHERE id = NEW.id;
END;
