-- Nova quota classes (os-quota-class-sets) (sqlite; keep in step with the file
-- of the same name for postgres). The class "default" overrides the
-- configured defaults of every project.
CREATE TABLE compute_quota_classes (
    class_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);
