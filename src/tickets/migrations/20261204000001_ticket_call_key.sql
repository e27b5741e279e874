-- A ticket belongs to one call: its Call-ID *and* the INVITE's arrival.
-- Keyed on the Call-ID alone, a second caller who reuses a Call-ID (a
-- buggy phone, or someone who learnt it) was handed the first caller's
-- ticket and number. The key is the Call-ID (escaped, at most 256 bytes)
-- and `received_at` in microseconds since the epoch, as the daemon builds
-- it (`Ticket::key`); the journal carries both, so a replay finds the same
-- key and writes the ticket once.
ALTER TABLE tickets ADD COLUMN call_key TEXT;
UPDATE tickets
   SET call_key = call_id || '@' || (extract(epoch FROM received_at) * 1000000)::bigint::text;
ALTER TABLE tickets ALTER COLUMN call_key SET NOT NULL;
ALTER TABLE tickets ADD CONSTRAINT tickets_call_key_key UNIQUE (call_key);
ALTER TABLE tickets DROP CONSTRAINT tickets_call_id_key;
CREATE INDEX tickets_call_id_idx ON tickets (call_id);
