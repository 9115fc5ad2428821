-- A provider inserted without a root is its own root: set in the INSERT
-- itself, so creating a root provider is one statement.
CREATE FUNCTION resource_providers_root_default() RETURNS trigger AS $$
BEGIN
    IF NEW.root_id IS NULL THEN
        NEW.root_id := NEW.id;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER resource_providers_root_default BEFORE INSERT ON resource_providers
    FOR EACH ROW EXECUTE FUNCTION resource_providers_root_default();
