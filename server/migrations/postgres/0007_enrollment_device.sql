-- The device an enrollment code enrolled: a tablet that lost the answer asks again with the same
-- code and the same public key and is given the same device ('' until the code is used).
ALTER TABLE enrollment_codes ADD COLUMN device_id TEXT NOT NULL DEFAULT '';

