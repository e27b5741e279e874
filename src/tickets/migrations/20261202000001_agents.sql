-- The desk's agents (the roster), where their phones are registered
-- (bindings), and every change of an agent's state (events).
--
-- The roster never holds a password: only the digest hashes a registrar
-- needs (HA1 = H(user:realm:password), RFC 7616 3.4.2), one per algorithm
-- we offer, computed for the realm they were made with.

CREATE TABLE agents (
    id              BIGSERIAL PRIMARY KEY,
    -- The user part of the phone's address and the digest username: the
    -- characters RFC 3261 allows unescaped in a user part, no colon.
    sip_user        TEXT NOT NULL UNIQUE
                    CHECK (sip_user ~ '^[A-Za-z0-9._~!*''()&=+$,;?/-]{1,64}$'),
    display_name    TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 128),
    tiers           TEXT[] NOT NULL
                    CHECK (cardinality(tiers) > 0 AND tiers <@ ARRAY['L1', 'L2', 'L3']),
    -- Prompt language (a key of the IVR's languages, e.g. `en`, `zh`).
    language        TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    realm           TEXT NOT NULL,
    ha1_md5         TEXT NOT NULL CHECK (ha1_md5 ~ '^[0-9a-f]{32}$'),
    ha1_sha256      TEXT NOT NULL CHECK (ha1_sha256 ~ '^[0-9a-f]{64}$'),
    state           TEXT NOT NULL DEFAULT 'offline'
                    CHECK (state IN ('offline', 'available', 'ringing', 'on_call', 'wrap_up', 'paused')),
    state_since     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Why the agent is in this state (a pause's reason); NULL for none.
    state_reason    TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- SIP compares user parts case-sensitively, but `Agent1` beside `agent1`
-- is a mistake waiting to happen on a desk: one of them is refused.
CREATE UNIQUE INDEX agents_sip_user_folded_idx ON agents (lower(sip_user));

-- Routing looks for enabled agents in a state (available ones, by tier).
CREATE INDEX agents_state_idx ON agents (state) WHERE enabled;

CREATE TABLE agent_bindings (
    id              BIGSERIAL PRIMARY KEY,
    agent_id        BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- The Contact URI exactly as the phone sent it (baresip's
    -- `sip:agent1-0x55...@host:port`, pjsua's `;ob`): it is what the
    -- phone compares when it matches our INVITE and its own binding.
    contact_uri     TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    -- RFC 3261 10.3: a REGISTER with the same Call-ID and a lower CSeq is
    -- out of order and refused.
    call_id         TEXT NOT NULL,
    cseq            BIGINT NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),
    -- Where the REGISTER came from (ip:port) and over what: INVITEs go
    -- there, not to the Contact's host, so agents behind NAT are reached.
    source          TEXT NOT NULL,
    transport       TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    -- RFC 5626 +sip.instance and reg-id, when the phone sends them.
    instance        TEXT,
    reg_id          INTEGER,
    user_agent      TEXT,
    registered_at   TIMESTAMPTZ NOT NULL,
    -- Keep-alive (OPTIONS) outcome: unreachable after the configured
    -- failures in a row; such a binding is offered no calls.
    reachable       BOOLEAN NOT NULL DEFAULT TRUE,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_seen_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (agent_id, contact_uri)
);

-- The sweep of expired bindings.
CREATE INDEX agent_bindings_expires_idx ON agent_bindings (expires_at);

-- One row per state change, never updated: occupancy and talk time are
-- computed from consecutive rows, and the audit reads who did what.
-- No foreign key on purpose: an agent's history outlives the agent (ids
-- come from a sequence and are never reused), and `sip_user` keeps it
-- readable after the roster row is gone.
CREATE TABLE agent_events (
    id              BIGSERIAL PRIMARY KEY,
    agent_id        BIGINT NOT NULL,
    sip_user        TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULL on the event that adds the agent to the roster.
    from_state      TEXT CHECK (from_state IN ('offline', 'available', 'ringing', 'on_call', 'wrap_up', 'paused')),
    to_state        TEXT NOT NULL
                    CHECK (to_state IN ('offline', 'available', 'ringing', 'on_call', 'wrap_up', 'paused')),
    reason          TEXT,
    actor           TEXT NOT NULL CHECK (actor IN ('cli', 'api', 'phone', 'system')),
    call_id         TEXT,
    ticket_number   BIGINT
);

-- One agent's recent history; reports over a period.
CREATE INDEX agent_events_agent_idx ON agent_events (agent_id, id);
CREATE INDEX agent_events_at_idx ON agent_events (at);

-- Every change to the roster or the bindings tells listening daemons which
-- agent changed (`LISTEN hotline_agents`, payload: the agent id), in the
-- writing transaction, so it is delivered on commit and only then. A
-- trigger rather than a call in each query: a change made by hand in psql
-- reaches running daemons too. A keep-alive that only moves
-- `last_seen_at` is not a change worth waking anyone for.
CREATE FUNCTION hotline_agents_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('hotline_agents', OLD.id::text);
    ELSE
        PERFORM pg_notify('hotline_agents', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION hotline_agent_bindings_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('hotline_agents', OLD.agent_id::text);
    ELSE
        PERFORM pg_notify('hotline_agents', NEW.agent_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER agents_notify AFTER INSERT OR UPDATE OR DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION hotline_agents_notify();

CREATE TRIGGER agent_bindings_notify_write AFTER INSERT OR DELETE ON agent_bindings
    FOR EACH ROW EXECUTE FUNCTION hotline_agent_bindings_notify();

CREATE TRIGGER agent_bindings_notify_update AFTER UPDATE ON agent_bindings
    FOR EACH ROW
    WHEN ((OLD.contact_uri, OLD.expires_at, OLD.call_id, OLD.cseq, OLD.source, OLD.transport,
           OLD.instance, OLD.reg_id, OLD.user_agent, OLD.reachable, OLD.failures)
          IS DISTINCT FROM
          (NEW.contact_uri, NEW.expires_at, NEW.call_id, NEW.cseq, NEW.source, NEW.transport,
           NEW.instance, NEW.reg_id, NEW.user_agent, NEW.reachable, NEW.failures))
    EXECUTE FUNCTION hotline_agent_bindings_notify();
