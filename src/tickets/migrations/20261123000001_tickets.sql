-- Tickets with their SLA clock, and the append-only history of each ticket.

-- Ticket numbers are short (callers hear and type them) and come from one
-- sequence; the daemon reserves numbers ahead of need so that a ticket
-- journaled while the database is down already owns its final number.
CREATE SEQUENCE ticket_number_seq START WITH 1001 MINVALUE 1001;

CREATE TABLE tickets (
    number              BIGINT PRIMARY KEY,
    call_id             TEXT NOT NULL UNIQUE,
    caller_number       TEXT NOT NULL,
    caller_name         TEXT,
    caller_private      BOOLEAN NOT NULL DEFAULT FALSE,
    customer_ref        TEXT,
    callback_number     TEXT,
    category            TEXT,
    severity            TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'in_progress', 'escalated', 'resolved', 'closed')),
    -- SLA start: when the call reached the hotline (the INVITE's arrival).
    received_at         TIMESTAMPTZ NOT NULL,
    answered_at         TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    -- The targets in force when the ticket was made, kept so a later policy
    -- change never rewrites an old promise.
    response_target     INTERVAL NOT NULL,
    resolution_target   INTERVAL NOT NULL,
    response_due_at     TIMESTAMPTZ NOT NULL,
    resolution_due_at   TIMESTAMPTZ NOT NULL,
    first_response_at   TIMESTAMPTZ,
    resolved_at         TIMESTAMPTZ,
    assigned_agent      TEXT,
    assigned_tier       TEXT NOT NULL,
    voice_note_path     TEXT,
    recording_path      TEXT,
    flow_version        TEXT,
    CHECK (received_at <= created_at),
    CHECK (response_due_at >= received_at AND resolution_due_at >= response_due_at)
);

CREATE INDEX tickets_open_idx ON tickets (response_due_at) WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX tickets_received_idx ON tickets (received_at);

CREATE TABLE ticket_events (
    id                  BIGSERIAL PRIMARY KEY,
    ticket_number       BIGINT NOT NULL REFERENCES tickets (number),
    -- Unique per change, so replaying the journal twice writes it once.
    op_id               TEXT NOT NULL UNIQUE,
    at                  TIMESTAMPTZ NOT NULL,
    actor               TEXT NOT NULL,
    action              TEXT NOT NULL,
    detail              JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_number, id);
