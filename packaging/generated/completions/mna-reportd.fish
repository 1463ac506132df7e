# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mna_reportd_global_optspecs
    string join \n config= v/verbose q/quiet log-format= h/help V/version
end

function __fish_mna_reportd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mna_reportd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mna_reportd_using_subcommand
    set -l cmd (__fish_mna_reportd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -s V -l version -d 'Print version'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "run" -d 'The daemon: fetch what is due at start, then on every job\'s schedule, until SIGTERM/SIGINT'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "check" -d 'Validate the config and show where credentials come from; --probe makes one real API call (and one bucket round trip)'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "fetch" -d 'Fetch now, for --job NAME... or --all: what is due, or every window inside --from/--to'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "history" -d 'The recorded reports, newest first'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "status" -d 'Per job: last done window, next fire, missing and failed windows inside the horizon'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "runs" -d 'The recorded daemon fires and manual fetches, newest first'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "devices" -d 'The device inventory from the history; --refresh lists the devices from the API first'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "prune" -d 'Delete report files (on disk and in the bucket) whose window ended before now - DURATION; their rows stay, marked pruned'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "export" -d 'Write the rows of sealed reports not yet exported to DIR or s3://bucket/prefix as Hive-partitioned Parquet'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "snapshot" -d 'Write a compressed snapshot of history.db to the bucket of [storage.remote] now (keeping the newest snapshot_keep)'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "restore" -d 'Rebuild an empty state directory from the newest history snapshot (or --from) and the bucket\'s listing'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "serve" -d 'Serve the read-only web page and its JSON API over the history, scheduling nothing'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "manpage" -d 'Print a man page (roff), as the package installs it'
complete -c mna-reportd -n "__fish_mna_reportd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand run" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand run" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand run" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand run" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand run" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand check" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand check" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand check" -l probe -d 'Also make one real, signed GetStatisticData call (the first job\'s newest window; nothing written), and with [storage.remote] write, read back and delete one object below <prefix>/_probe/; exit 1 if either fails'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand check" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand check" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand check" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l job -d 'Job(s) to fetch' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l from -d 'Start of the range (RFC 3339, or a local date/date-time in the job\'s zone)' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l to -d 'End of the range, exclusive' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l all -d 'Every enabled job'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l force -d 'Fetch reports that are already done again'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -l dry-run -d 'Print the windows and request bodies; send nothing, change nothing'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand fetch" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -l job -d 'Only this job (repeatable)' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -l since -d 'Only windows ending at or after T (RFC 3339, a local date or date-time, or a duration back from now: 2h, 3d)' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -l status -d 'Only this status: pending, running, ok, failed, pruned' -r -f -a "pending\t''
running\t''
ok\t''
failed\t''
pruned\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -l limit -d 'At most N rows' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -l format -r -f -a "table\t''
json\t''
csv\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand history" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand status" -l format -r -f -a "table\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand status" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand status" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand status" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand status" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand status" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -l job -d 'Only the runs of this job' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -l limit -d 'At most N rows [default: 20]' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -l format -r -f -a "table\t''
json\t''
csv\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand runs" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand devices" -l format -r -f -a "table\t''
json\t''
csv\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand devices" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand devices" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand devices" -l refresh -d 'List the devices from the API first (every discovering job\'s; the whole account when none discovers)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand devices" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand devices" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand devices" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand prune" -l older-than -d 'Age of the window end beyond which files are deleted (e.g. 400d) [default: [storage] retention]' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand prune" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand prune" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand prune" -l dry-run -d 'Show what would be deleted; delete nothing'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand prune" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand prune" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand prune" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -l to -d 'Destination: a directory, or s3://bucket/prefix' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -l job -d 'Only this job (repeatable)' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -l since -d 'Only windows starting at or after T (RFC 3339, a local date or date-time, or a duration back from now: 2h, 3d)' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -l until -d 'Only windows starting before T' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand export" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand snapshot" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand snapshot" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand snapshot" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand snapshot" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand snapshot" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand restore" -l from -d 'The snapshot: s3://bucket/key of one, or a file (gzip or a plain database) [default: the newest in the bucket]' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand restore" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand restore" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand restore" -l force -d 'Restore over a state directory that holds a history or reports (the history there is moved aside, not deleted)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand restore" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand restore" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand restore" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand serve" -l listen -d 'Address to listen on [default: [web] listen, else 127.0.0.1:9465]' -r
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand serve" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand serve" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand serve" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand serve" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand serve" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand completions" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand completions" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand completions" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand completions" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand manpage" -l config -d 'Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]' -r -F
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand manpage" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand manpage" -s v -l verbose -d 'More log detail (-v debug, -vv trace)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand manpage" -s q -l quiet -d 'Only warnings and errors'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "run" -d 'The daemon: fetch what is due at start, then on every job\'s schedule, until SIGTERM/SIGINT'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "check" -d 'Validate the config and show where credentials come from; --probe makes one real API call (and one bucket round trip)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "fetch" -d 'Fetch now, for --job NAME... or --all: what is due, or every window inside --from/--to'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "history" -d 'The recorded reports, newest first'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "status" -d 'Per job: last done window, next fire, missing and failed windows inside the horizon'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "runs" -d 'The recorded daemon fires and manual fetches, newest first'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "devices" -d 'The device inventory from the history; --refresh lists the devices from the API first'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "prune" -d 'Delete report files (on disk and in the bucket) whose window ended before now - DURATION; their rows stay, marked pruned'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "export" -d 'Write the rows of sealed reports not yet exported to DIR or s3://bucket/prefix as Hive-partitioned Parquet'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "snapshot" -d 'Write a compressed snapshot of history.db to the bucket of [storage.remote] now (keeping the newest snapshot_keep)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "restore" -d 'Rebuild an empty state directory from the newest history snapshot (or --from) and the bucket\'s listing'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "serve" -d 'Serve the read-only web page and its JSON API over the history, scheduling nothing'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "manpage" -d 'Print a man page (roff), as the package installs it'
complete -c mna-reportd -n "__fish_mna_reportd_using_subcommand help; and not __fish_seen_subcommand_from run check fetch history status runs devices prune export snapshot restore serve completions manpage help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
