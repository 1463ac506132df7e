-- Counting a horizon's reports without reading them: per job, target,
-- region and status by window end (the start rides along, so a count never
-- reads the table), and per job and status by time (the last success, the
-- last error).
CREATE INDEX reports_by_target_end ON reports (job, target, region, status, window_end, window_start);
CREATE INDEX reports_by_status_time ON reports (job, status, updated_at);
