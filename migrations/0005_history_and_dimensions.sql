-- rtc-archiver schema, version 5.
--
-- Two ways a series widens:
--
-- * Resolution. The offline actions (`ListQuality`,
--   `ListQualityDistribution`) answer the same indicators 30 days back at
--   5 minutes. A 5-minute point lives in `points_5min`, keyed like a
--   30-second one by its slot's first bucket (a table of its own, so that
--   the 30-second rows, nearly all of the archive, carry no byte more); it
--   exists only where the series has no 30-second point in [slot, slot +
--   300 s), and a 30-second point arriving later removes it (real-time wins). `history_log` records
--   which intervals were fetched from the offline store (so a backfill
--   resumes, and never asks twice); `gap_log` notes what repaired a gap.
--   Rollups weigh a point by the buckets it stands for (`buckets`: 10 for
--   a 5-minute point), and keep counting points (`count`).
--
-- * Dimension. `ListRealTimeQualityDistribution` breaks one quality
--   indicator down by one dimension (Province, Country, OS, Access): a
--   stream of source 'distribution' has a `dimension`, and each of its
--   series one `dimension_value` (stored once per series, never per point).
--
-- `streams` and `series` are rebuilt (SQLite cannot change a UNIQUE or
-- CHECK constraint in place), every row and id kept; foreign keys are
-- checked before the migration commits. The views are dropped first and
-- created again with their new columns appended, so that queries naming
-- the old columns keep working.

DROP VIEW samples;
DROP VIEW samples_hourly;
DROP VIEW samples_daily;
DROP VIEW fetched;
DROP VIEW gaps;

CREATE TABLE streams_v5 (
    id              INTEGER PRIMARY KEY,
    app_id          TEXT NOT NULL,
    room_id         TEXT NOT NULL DEFAULT '',
    user_ids        TEXT NOT NULL DEFAULT '',   -- sorted, comma-joined UserId list
    source          TEXT NOT NULL CHECK (source IN ('quality', 'operation', 'distribution')),
    dimension       TEXT NOT NULL DEFAULT ''    -- '' unless source = 'distribution'
                    CHECK (dimension IN ('', 'Province', 'Country', 'OS', 'Access')),
    last_attempt_at INTEGER,                    -- Unix seconds of the last request
    last_success_at INTEGER,                    -- ... of the last answer stored
    last_error      TEXT,                       -- the last failure, NULL after a success
    last_error_at   INTEGER,
    failing_since   INTEGER,                    -- start of the current run of failures
    UNIQUE (app_id, room_id, user_ids, source, dimension)
) STRICT;

INSERT INTO streams_v5 (id, app_id, room_id, user_ids, source, last_attempt_at,
                        last_success_at, last_error, last_error_at, failing_since)
SELECT id, app_id, room_id, user_ids, source, last_attempt_at,
       last_success_at, last_error, last_error_at, failing_since
FROM streams;

DROP TABLE streams;
ALTER TABLE streams_v5 RENAME TO streams;

CREATE TABLE series_v5 (
    id              INTEGER PRIMARY KEY,
    stream_id       INTEGER NOT NULL REFERENCES streams (id),
    indicator       TEXT NOT NULL,
    unit            TEXT,
    dimension_value TEXT NOT NULL DEFAULT '',   -- '' unless a distribution series
    UNIQUE (stream_id, indicator, dimension_value)
) STRICT;

INSERT INTO series_v5 (id, stream_id, indicator, unit)
SELECT id, stream_id, indicator, unit FROM series;

DROP TABLE series;
ALTER TABLE series_v5 RENAME TO series;

-- The 5-minute points: bucket = the first 30-second bucket of the slot,
-- value encoded as in `points`.
CREATE TABLE points_5min (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    value     ANY NOT NULL,
    PRIMARY KEY (series_id, bucket)
) STRICT, WITHOUT ROWID;

-- 30-second buckets the points of the hour (day) stand for; NULL in rows
-- written before version 5, which held 30-second points only (= count).
ALTER TABLE rollup_hourly ADD COLUMN buckets INTEGER;
ALTER TABLE rollup_daily ADD COLUMN buckets INTEGER;

-- Requests of the stream's offline action, per hour (the daily quota).
ALTER TABLE stream_stats ADD COLUMN offline_requests INTEGER NOT NULL DEFAULT 0;

-- What repaired a gap: the resolution of the points that filled it and
-- when (NULL while unrepaired), and when a repair was last tried.
ALTER TABLE gap_log ADD COLUMN repaired_resolution INTEGER;
ALTER TABLE gap_log ADD COLUMN repaired_at INTEGER;
ALTER TABLE gap_log ADD COLUMN repair_tried_at INTEGER;

-- Intervals of a feed fetched from the offline store (merged when they
-- touch): every 5-minute slot in [start_ts, end_ts) was asked for.
CREATE TABLE history_log (
    stream_id  INTEGER NOT NULL REFERENCES streams (id),
    indicator  TEXT NOT NULL,       -- the requested name
    start_ts   INTEGER NOT NULL,    -- inclusive
    end_ts     INTEGER NOT NULL,    -- exclusive
    resolution INTEGER NOT NULL,    -- seconds: 300
    fetched_at INTEGER NOT NULL,    -- Unix seconds of the last fetch in it
    PRIMARY KEY (stream_id, indicator, start_ts)
) STRICT;

CREATE VIEW samples AS
SELECT st.app_id                                        AS app_id,
       NULLIF(st.room_id, '')                           AS room_id,
       NULLIF(st.user_ids, '')                          AS user_ids,
       st.source                                        AS source,
       se.indicator                                     AS indicator,
       se.unit                                          AS unit,
       1767225600 + p.bucket * 30                       AS ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', 1767225600 + p.bucket * 30, 'unixepoch') AS time,
       CASE typeof(p.value) WHEN 'integer' THEN p.value / 100.0 ELSE p.value END AS value,
       p.resolution                                     AS resolution,
       NULLIF(st.dimension, '')                         AS dimension,
       NULLIF(se.dimension_value, '')                   AS dimension_value
FROM (SELECT series_id, bucket, value, 30 AS resolution FROM points
      UNION ALL
      SELECT series_id, bucket, value, 300 AS resolution FROM points_5min) p
JOIN series se ON se.id = p.series_id
JOIN streams st ON st.id = se.stream_id;

-- avg and sum weigh a 5-minute point as the ten buckets it stands for;
-- count counts points, buckets the 30-second buckets they stand for.
CREATE VIEW samples_hourly AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, se.indicator, se.unit,
       r.hour * 3600                                          AS ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.hour * 3600, 'unixepoch') AS time,
       r.count, r.sum / coalesce(r.buckets, r.count) AS avg, r.min, r.max, r.sum,
       coalesce(r.buckets, r.count) AS buckets,
       NULLIF(st.dimension, '') AS dimension, NULLIF(se.dimension_value, '') AS dimension_value
FROM rollup_hourly r
JOIN series se ON se.id = r.series_id
JOIN streams st ON st.id = se.stream_id;

CREATE VIEW samples_daily AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, se.indicator, se.unit,
       r.day * 86400                                          AS ts,
       strftime('%Y-%m-%d', r.day * 86400, 'unixepoch')       AS date,
       r.count, r.sum / coalesce(r.buckets, r.count) AS avg, r.min, r.max, r.sum,
       coalesce(r.buckets, r.count) AS buckets,
       NULLIF(st.dimension, '') AS dimension, NULLIF(se.dimension_value, '') AS dimension_value
FROM rollup_daily r
JOIN series se ON se.id = r.series_id
JOIN streams st ON st.id = se.stream_id;

CREATE VIEW fetched AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, f.indicator,
       f.first_ts, f.done_ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', f.first_ts, 'unixepoch') AS first_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', f.done_ts, 'unixepoch')  AS done_time,
       NULLIF(st.dimension, '') AS dimension
FROM feeds f
JOIN streams st ON st.id = f.stream_id;

CREATE VIEW gaps AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, g.indicator,
       g.start_ts, g.end_ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.start_ts, 'unixepoch') AS start_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.end_ts, 'unixepoch')   AS end_time,
       g.end_ts - g.start_ts AS seconds,
       g.cause, g.detail,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.recorded_at, 'unixepoch') AS recorded_at,
       NULLIF(st.dimension, '') AS dimension,
       g.repaired_resolution,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.repaired_at, 'unixepoch') AS repaired_at
FROM gap_log g
JOIN streams st ON st.id = g.stream_id;
