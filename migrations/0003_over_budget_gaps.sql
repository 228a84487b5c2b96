-- rtc-archiver schema, version 3.
--
-- A third cause of lost data: `over_budget`, what slid out of the API's
-- reach while the collector ran but the request budget (the rate limit or
-- the daily quota, shared by every target of the account) did not reach
-- the stream in time. SQLite cannot change a CHECK constraint in place, so
-- the gap log is rebuilt with every row kept; the `gaps` view, which reads
-- it, is dropped first and created again unchanged.
DROP VIEW gaps;

CREATE TABLE gap_log_v3 (
    stream_id   INTEGER NOT NULL REFERENCES streams (id),
    indicator   TEXT NOT NULL,      -- the requested name
    start_ts    INTEGER NOT NULL,   -- inclusive
    end_ts      INTEGER NOT NULL,   -- exclusive
    cause       TEXT NOT NULL CHECK (cause IN ('not_collected', 'fetch_failed', 'over_budget')),
    detail      TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (stream_id, indicator, start_ts)
) STRICT;

INSERT INTO gap_log_v3 (stream_id, indicator, start_ts, end_ts, cause, detail, recorded_at)
SELECT stream_id, indicator, start_ts, end_ts, cause, detail, recorded_at FROM gap_log;

DROP TABLE gap_log;

ALTER TABLE gap_log_v3 RENAME TO gap_log;

CREATE VIEW gaps AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, g.indicator,
       g.start_ts, g.end_ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.start_ts, 'unixepoch') AS start_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.end_ts, 'unixepoch')   AS end_time,
       g.end_ts - g.start_ts AS seconds,
       g.cause, g.detail,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.recorded_at, 'unixepoch') AS recorded_at
FROM gap_log g
JOIN streams st ON st.id = g.stream_id;
