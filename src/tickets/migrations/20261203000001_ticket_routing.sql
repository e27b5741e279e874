-- What routing writes on a ticket: who took the call and when, how long the
-- caller waited in the queue, a callback request, escalations; and the
-- ways a queued call can end on its call record.
--
-- `first_response_at`, `assigned_agent`, `assigned_tier`, `recording_path`
-- and status `in_progress` exist since the first migration.

-- Time from joining the queue to the agent's answer (first assignment) or
-- to the caller leaving the queue (abandoned): what the desk's response
-- figures are made of.
ALTER TABLE tickets ADD COLUMN queue_wait INTERVAL
    CHECK (queue_wait IS NULL OR queue_wait >= INTERVAL '0');
-- The caller pressed 1 for a callback while waiting; the number is
-- `callback_number` (the caller ID unless the caller gave another).
ALTER TABLE tickets ADD COLUMN callback_requested_at TIMESTAMPTZ;
-- Escalations by agents (keypad code or transfer to a tier), for reports.
ALTER TABLE tickets ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0
    CHECK (escalations >= 0);

ALTER TABLE call_records DROP CONSTRAINT call_records_end_reason_check;
ALTER TABLE call_records ADD CONSTRAINT call_records_end_reason_check
    CHECK (end_reason IN ('caller_hung_up', 'completed', 'timeout',
        'rejected_503', 'rejected_486', 'error', 'shutdown',
        -- Routing's endings: the caller hung up while waiting; pressed 1
        -- for a callback and was let go; talked with an agent; heard that
        -- the agent's leg dropped and the desk will call back.
        'abandoned_in_queue', 'callback_requested', 'agent_call', 'call_cut'));

-- Routing writes many history events on a ticket; its history is read by
-- ticket and action (reports count escalations and SLA breaches).
CREATE INDEX ticket_events_action_idx ON ticket_events (action, at);
