-- One row per call, with or without a ticket: what the desk's reports
-- (answered within three rings, abandoned calls) are computed from.
CREATE TABLE call_records (
    id              BIGSERIAL PRIMARY KEY,
    -- SIP Call-ID: the call task upserts its record as the call goes on,
    -- and the journal may replay a write, so one row per call.
    call_id         TEXT NOT NULL UNIQUE,
    caller_number   TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    answered_at     TIMESTAMPTZ,
    ended_at        TIMESTAMPTZ,
    end_reason      TEXT CHECK (end_reason IN ('caller_hung_up', 'completed', 'timeout',
                        'rejected_503', 'rejected_486', 'error', 'shutdown')),
    -- The last IVR step reached, every key pressed (in order) and the
    -- language the caller heard.
    last_step       TEXT,
    digits          TEXT NOT NULL DEFAULT '',
    language        TEXT,
    -- No foreign key: a ticket written to the journal during an outage may
    -- reach the database after its call's record, and a record must never
    -- be refused for that.
    ticket_number   BIGINT,
    flow_version    TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX call_records_received_idx ON call_records (received_at);
