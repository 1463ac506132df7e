#!/usr/bin/env bash
# Build the Debian package, install it on this machine with dpkg -i, check
# what it installed (files, owners, modes, the user, the units with
# systemd-analyze verify, mna-reportd --version), purge it, and check that
# nothing is left but what the purge documents it keeps (packaging/deb/postrm):
# the system user, the state directory /var/lib/mna-reportd, and files put
# into /etc/mna-reportd by hand. A second round purges with
# MNA_REPORTD_PURGE_STATE=yes and checks that the state directory goes too.
#
# Needs root and no mna-reportd package installed (it installs and purges
# one). No running systemd is needed. Installs cargo-deb when missing.
#
#   packaging/check-deb.sh            build (release) and check
#   packaging/check-deb.sh --no-build check the release binary built before
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start=$(date +%s)

fail() {
  echo "check-deb: FAIL: $*" >&2
  exit 1
}
step() { echo "check-deb: $*"; }

[ "$(id -u)" = 0 ] || fail "run as root: it installs the package on this machine"
if dpkg-query -W -f='${Status}' mna-reportd 2>/dev/null | grep -q 'installed\|config-files'; then
  fail "a mna-reportd package is installed here; this check installs and purges one: purge it first (dpkg --purge mna-reportd)"
fi
for tool in systemd-analyze dpkg-deb; do
  command -v "$tool" >/dev/null || fail "$tool is missing (Debian packages systemd, dpkg)"
done

build=(--locked --strip)
[ "${1:-}" = --no-build ] && build+=(--no-build)
if ! cargo deb --version >/dev/null 2>&1; then
  step "installing cargo-deb"
  cargo install cargo-deb --locked --quiet
fi

step "building the package"
deb=$(cargo deb "${build[@]}" | tail -n 1)
[ -f "$deb" ] || fail "cargo deb made no package (got: $deb)"
step "built $deb ($(du -h "$deb" | cut -f1))"
version=$(dpkg-deb -f "$deb" Version)
upstream=${version%-*}

# What exists on this machine, outside the places a build, a test or dpkg's
# own bookkeeping write to.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
snapshot() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
    -o -path /var/tmp -o -path /var/cache -o -path /var/log -o -path /var/lib/dpkg \
    -o -path /var/lib/apt -o -path /root -o -path /home -o -path /work \
    -o -path "$repo" -o -path "$target_dir" -o -path "${CARGO_HOME:-/root/.cargo}" \) -prune -o -print |
    sort
}

# expect PATH TYPE(f|d|l) OWNER:GROUP MODE
expect() {
  [ -e "$1" ] || [ -L "$1" ] || fail "$1 is not installed"
  local got
  got=$(stat -c '%U:%G %a' "$1")
  [ "$got" = "$3 $4" ] || fail "$1 is $got, expected $3 $4"
  case "$2" in
  f) [ -f "$1" ] && [ ! -L "$1" ] || fail "$1 is not a regular file" ;;
  d) [ -d "$1" ] || fail "$1 is not a directory" ;;
  esac
}

verify_unit() { # verify UNIT-FILE LOAD-AS
  local dir out
  dir=$(mktemp -d)
  cp "/usr/lib/systemd/system/$1" "$dir/"
  out=$(SYSTEMD_COLORS=0 SYSTEMD_PAGER='' systemd-analyze verify --man=no --recursive-errors=no "$dir/$2" 2>&1) ||
    fail "systemd-analyze verify $2: $out"
  rm -rf "$dir"
  if grep -q mna-reportd <<<"$out"; then fail "systemd-analyze verify $2 complains: $out"; fi
}

installed_files=()
install_and_check() {
  step "dpkg -i $(basename "$deb")"
  dpkg -i "$deb" >/tmp/check-deb-install.log 2>&1 || {
    cat /tmp/check-deb-install.log >&2
    fail "dpkg -i failed"
  }
  dpkg-query -W -f='${Status}\n' mna-reportd | grep -q 'install ok installed' || fail "not installed"

  expect /usr/bin/mna-reportd f root:root 755
  expect /usr/lib/systemd/system/mna-reportd.service f root:root 644
  expect /usr/lib/systemd/system/mna-reportd@.service f root:root 644
  expect /usr/lib/sysusers.d/mna-reportd.conf f root:root 644
  expect /etc/mna-reportd d root:mna-reportd 750
  expect /etc/mna-reportd/config.toml f root:mna-reportd 640
  dpkg-query -W -f='${Conffiles}\n' mna-reportd | grep -q '^ /etc/mna-reportd/config.toml ' ||
    fail "/etc/mna-reportd/config.toml is not a conffile"
  for page in mna-reportd mna-reportd-run mna-reportd-check mna-reportd-fetch mna-reportd-history \
    mna-reportd-status mna-reportd-prune mna-reportd-completions; do
    expect "/usr/share/man/man1/$page.1.gz" f root:root 644
    zcat "/usr/share/man/man1/$page.1.gz" | grep -q "^\.TH $page 1" || fail "$page.1.gz is not its man page"
  done
  expect /usr/share/man/man5/mna-reportd.toml.5.gz f root:root 644
  zcat /usr/share/man/man5/mna-reportd.toml.5.gz | grep -q '^\.TH mna-reportd.toml 5' ||
    fail "mna-reportd.toml.5.gz is not the job file's man page"
  expect /usr/share/bash-completion/completions/mna-reportd f root:root 644
  expect /usr/share/zsh/vendor-completions/_mna-reportd f root:root 644
  expect /usr/share/fish/vendor_completions.d/mna-reportd.fish f root:root 644
  bash -c 'source /usr/share/bash-completion/completions/mna-reportd && complete -p mna-reportd' >/dev/null ||
    fail "the bash completion does not register for mna-reportd"
  expect /usr/share/doc/mna-reportd/examples/grafana/mna-reportd.json f root:root 644
  expect /usr/share/doc/mna-reportd/examples/prometheus/mna-reportd.rules.yml f root:root 644

  # The user: a system account that cannot log in.
  local pw uid shell
  pw=$(getent passwd mna-reportd) || fail "no user mna-reportd"
  uid=$(cut -d: -f3 <<<"$pw")
  shell=$(cut -d: -f7 <<<"$pw")
  [ "$uid" -lt 1000 ] || fail "mna-reportd is not a system user (uid $uid)"
  case "$shell" in */nologin | */false) ;; *) fail "mna-reportd has a login shell: $shell" ;; esac
  getent group mna-reportd >/dev/null || fail "no group mna-reportd"

  # Neither enabled nor started by the package.
  [ ! -e /etc/systemd/system/multi-user.target.wants/mna-reportd.service ] || fail "the package enabled the service"

  verify_unit mna-reportd.service mna-reportd.service
  verify_unit mna-reportd@.service mna-reportd@acme.service
  local v
  v=$(/usr/bin/mna-reportd --version)
  [ "$v" = "mna-reportd $upstream" ] || fail "mna-reportd --version says '$v', expected 'mna-reportd $upstream'"
  # The service user can read the job file (through its group), and no one else.
  setpriv --reuid=mna-reportd --regid=mna-reportd --init-groups -- \
    head -c 1 /etc/mna-reportd/config.toml >/dev/null || fail "the service user cannot read the job file"
  /usr/bin/mna-reportd completions bash | grep -q mna-reportd || fail "mna-reportd completions bash"
  mapfile -t installed_files < <(dpkg -L mna-reportd | grep -v '^/\.$')
  step "installed and checked: $(wc -l <<<"$(printf '%s\n' "${installed_files[@]}")") paths, user uid $uid, units verified, $v"
}

# The package's own files and dpkg's and deb-systemd-helper's records of it
# are gone (the snapshots below catch anything else); arguments: paths the
# purge keeps by design.
check_gone() {
  local p
  for p in "${installed_files[@]}"; do
    if [[ " $* " == *" $p "* ]]; then continue; fi
    if [ -e "$p" ] && { [ ! -d "$p" ] || [[ "$p" == *mna-reportd* ]]; }; then
      fail "$p is still there after purge"
    fi
  done
  if dpkg-query -W -f='${Status}' mna-reportd 2>/dev/null | grep -q -v 'not-installed'; then
    fail "dpkg still knows mna-reportd: $(dpkg-query -W -f='${Status}' mna-reportd)"
  fi
  if find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-user-helper-enabled \
    -name '*mna-reportd*' 2>/dev/null | grep -q .; then
    fail "systemd enable state left in /var/lib/systemd/deb-systemd-helper-enabled"
  fi
}

before=$(mktemp)
after=$(mktemp)
made_state=0
cleanup() {
  rm -f "$before" "$after"
  dpkg --purge mna-reportd >/dev/null 2>&1 || true
  if [ "$made_state" = 1 ]; then
    rm -rf /var/lib/mna-reportd
    rm -f /etc/mna-reportd/secret_id
    rmdir /etc/mna-reportd 2>/dev/null || true
  fi
}
trap cleanup EXIT
getent passwd mna-reportd >/dev/null && had_user=1 || had_user=0
[ ! -e /var/lib/mna-reportd ] || fail "/var/lib/mna-reportd exists already; the check would delete it"
snapshot >"$before"

# Round 1: used like a real installation (enabled, a key put in, a history
# written), then purged: what purge keeps is exactly what it documents.
install_and_check
systemctl enable mna-reportd.service mna-reportd@acme.service >/dev/null 2>&1 ||
  fail "systemctl enable (offline) failed"
[ -L /etc/systemd/system/multi-user.target.wants/mna-reportd@acme.service ] || fail "enable made no link"
made_state=1
(umask 077 && echo AKIDexample >/etc/mna-reportd/secret_id)
install -d -o mna-reportd -g mna-reportd -m 0750 /var/lib/mna-reportd
install -o mna-reportd -g mna-reportd -m 0640 /dev/null /var/lib/mna-reportd/history.db
step "dpkg --purge (keeping the state)"
dpkg --purge mna-reportd >/tmp/check-deb-purge.log 2>&1 || {
  cat /tmp/check-deb-purge.log >&2
  fail "dpkg --purge failed"
}
grep -q 'kept /etc/mna-reportd' /tmp/check-deb-purge.log || fail "purge did not say it kept /etc/mna-reportd"
grep -q 'kept the history' /tmp/check-deb-purge.log || fail "purge did not say it kept /var/lib/mna-reportd"
check_gone /etc/mna-reportd
snapshot >"$after"
# New paths: the kept ones, and the account databases' backups (their
# contents changed: the user stays).
left=$(comm -13 "$before" "$after" | grep -v -x -e /var/lib/mna-reportd -e /var/lib/mna-reportd/history.db \
  -e /etc/mna-reportd -e /etc/mna-reportd/secret_id \
  -e /etc/passwd- -e /etc/group- -e /etc/shadow- -e /etc/gshadow- || true)
[ -z "$left" ] || fail "left after purge: $left"
gone=$(comm -23 "$before" "$after" | grep -v -x -e /etc/passwd- -e /etc/group- -e /etc/shadow- -e /etc/gshadow- || true)
[ -z "$gone" ] || fail "purge removed what it had not installed: $gone"
[ -f /var/lib/mna-reportd/history.db ] || fail "purge deleted the history"
[ -f /etc/mna-reportd/secret_id ] || fail "purge deleted a file it had not installed"
getent passwd mna-reportd >/dev/null || fail "purge removed the system user"
step "purged: kept the user, /var/lib/mna-reportd and the key put in by hand; nothing else"

# Round 2: purge asked to delete the state; nothing put in by hand.
rm -f /etc/mna-reportd/secret_id
rmdir /etc/mna-reportd
install_and_check
# An upgrade (the same package again): the edited job file stays, with its
# owner and mode.
echo '# edited' >>/etc/mna-reportd/config.toml
dpkg -i "$deb" >/tmp/check-deb-install.log 2>&1 || {
  cat /tmp/check-deb-install.log >&2
  fail "dpkg -i over an installed package failed"
}
tail -n 1 /etc/mna-reportd/config.toml | grep -qx '# edited' || fail "an upgrade replaced the edited job file"
expect /etc/mna-reportd/config.toml f root:mna-reportd 640
step "upgraded over itself: the edited job file kept, root:mna-reportd 0640"
step "MNA_REPORTD_PURGE_STATE=yes dpkg --purge"
MNA_REPORTD_PURGE_STATE=yes dpkg --purge mna-reportd >/tmp/check-deb-purge.log 2>&1 || {
  cat /tmp/check-deb-purge.log >&2
  fail "dpkg --purge failed"
}
check_gone
snapshot >"$after"
left=$(comm -13 "$before" "$after" | grep -v -x -e /etc/passwd- -e /etc/group- -e /etc/shadow- -e /etc/gshadow- || true)
[ -z "$left" ] || fail "left after purge with MNA_REPORTD_PURGE_STATE=yes: $left"
if [ "$had_user" = 0 ]; then
  step "the system user mna-reportd stays, as purge documents"
fi
step "OK in $(($(date +%s) - start)) s"
