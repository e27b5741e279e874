-- Indexes for the desk's key figures (`hotline report`) and the SLA clock
-- that scans open tickets without calls. No new column: what the figures
-- need is already recorded (reopen = a `status` event back to an open
-- state after one to resolved/closed; callbacks on the ticket; calls per
-- ticket in call_records; agent time in agent_events).

-- Repeat rate: the same caller's earlier tickets in the same category.
CREATE INDEX tickets_repeat_idx ON tickets (caller_number, category, received_at);

-- The SLA clock: open tickets past their resolution deadline (the response
-- deadline has `tickets_open_idx`).
CREATE INDEX tickets_open_resolution_idx ON tickets (resolution_due_at)
    WHERE status NOT IN ('resolved', 'closed');

-- First-contact resolution counts a ticket's calls.
CREATE INDEX call_records_ticket_idx ON call_records (ticket_number)
    WHERE ticket_number IS NOT NULL;

-- An agent's state when a report's period starts: their last event before it.
CREATE INDEX agent_events_agent_at_idx ON agent_events (agent_id, at, id);
