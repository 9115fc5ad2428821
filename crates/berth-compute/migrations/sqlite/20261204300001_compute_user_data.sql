-- User data of servers (sqlite; keep in step with the file of the same name
-- for the other engine): the base64 text given at create, replaced by a
-- rebuild from 2.57, shown to admins as OS-EXT-SRV-ATTR:user_data.
ALTER TABLE compute_instances ADD COLUMN user_data TEXT;
