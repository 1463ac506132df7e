-- The file a claim writes lives with the claim: a report row carries a
-- file_path only while its file exists (ok, or fetched again with --force).
ALTER TABLE claims ADD COLUMN file_path TEXT;
UPDATE reports SET file_path = NULL WHERE status IN ('pending', 'failed');
