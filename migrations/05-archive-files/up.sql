-- The recorded files, for counting the rows whose file is outside the
-- archive by a range on the path (rows without a file are left out).
CREATE INDEX reports_by_file ON reports (file_path) WHERE file_path IS NOT NULL;

-- The rows whose recorded path could name something odd below any root: a
-- `.` or `..` name, an empty name, a NUL, a very long path (a name that
-- merely starts with a dot, as in `/home/op/.local/state`, is not odd:
-- every row of such a root would be). Empty when the history holds only what mna-reportd wrote, so the
-- exact check runs on (almost) no rows. The condition must stay the same
-- text as `ODD` in src/archive/store/outside.rs.
CREATE INDEX reports_odd_file ON reports (job) WHERE file_path IS NOT NULL
    AND (instr(file_path, '/./') > 0 OR instr(file_path, '/../') > 0
         OR substr(file_path, -2) = '/.' OR substr(file_path, -3) = '/..'
         OR instr(file_path, '//') > 0 OR substr(file_path, -1) = '/'
         OR length(CAST(file_path AS BLOB)) > 4096 OR instr(CAST(file_path AS BLOB), x'00') > 0);
