-- Which clock a ticket's SLA deadlines run on: 'always' (7x24, the desk's
-- promise) or 'staffed' (only the service hours of the ticket's tier,
-- `[hours] sla_clock`). Kept with the deadlines it gave, so a later change
-- of configuration never changes what an existing ticket was promised.
ALTER TABLE tickets ADD COLUMN sla_clock TEXT NOT NULL DEFAULT 'always'
    CHECK (sla_clock IN ('always', 'staffed'));
