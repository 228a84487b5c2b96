-- rtc-archiver schema, version 4.
--
-- What `export --since-last` shipped to each destination, so that the next
-- export to the same place ships only what came after it. One row per
-- destination, replaced by each export to it, in the transaction that
-- follows the files being in place.
CREATE TABLE exports (
    destination TEXT PRIMARY KEY,   -- the absolute path of --out (a file, or a partitioned directory)
    selection   TEXT NOT NULL,      -- the format and selection flags, which the next export must repeat
    until_ts    INTEGER NOT NULL,   -- every bucket before it (Unix seconds) was written there
    points      INTEGER NOT NULL,   -- points the last export wrote
    exported_at INTEGER NOT NULL    -- when the last export finished (Unix seconds)
) STRICT;
