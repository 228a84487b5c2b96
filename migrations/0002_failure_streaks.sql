-- rtc-archiver schema, version 2.
--
-- When the current run of failed requests of a stream began (NULL while the
-- stream succeeds), so that a lost interval is blamed on failures only for
-- the part that failing passes tried to fetch: what slid out of reach while
-- no pass ran is `not_collected`, even after failures.
ALTER TABLE streams ADD COLUMN failing_since INTEGER;
