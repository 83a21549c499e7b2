-- The server's receipt for each change it took (a samvaer.v1.Receipt: a MAC and the commit's
-- seq and mark, nothing a person wrote), kept with the change so that a server restored from an
-- older backup takes it again (clientlib/escrow.go, server/receipts.go).
ALTER TABLE outbox ADD COLUMN receipt BLOB;
ALTER TABLE acknowledged ADD COLUMN receipt BLOB;
