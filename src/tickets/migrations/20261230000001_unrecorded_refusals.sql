-- Calls refused at once (503: full, overloaded, over a source's rate)
-- whose records could not be written one by one: the database was down,
-- or a flood outran the writer's queue. They are counted here, one row
-- per stretch of time, instead of journaled one file per INVITE
-- (issue 14, hardening 4).
CREATE TABLE unrecorded_refusals (
    id          BIGSERIAL PRIMARY KEY,
    first_at    TIMESTAMPTZ NOT NULL,
    last_at     TIMESTAMPTZ NOT NULL,
    refused     BIGINT NOT NULL CHECK (refused > 0),
    written_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
