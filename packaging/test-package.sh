#!/usr/bin/env bash
# Build hotline's Debian package and check what it holds: the binary, the
# conffiles under /etc/hotline, every prompt under prompts/, the systemd
# unit (and `systemd-analyze verify` on it when systemd-analyze exists),
# the maintainer scripts, the dependencies; then run the packaged binary
# from `/` against the packaged configuration.
#
# Usage: bash packaging/test-package.sh [--no-build]
#   --no-build  package the release binary already built (cargo deb --no-build)
#
# Needs cargo-deb (`cargo install cargo-deb`). The release build takes
# about 10 minutes on a 2-core machine, so .ci/test-all does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
command -v cargo-deb >/dev/null || { echo "test-package: cargo-deb missing; cargo install cargo-deb" >&2; exit 2; }

args=(--strip)
[ "${1:-}" = "--no-build" ] && args+=(--no-build)
start=$(date +%s)
deb=$(cargo deb "${args[@]}" | tail -n 1)
echo "test-package: built $deb in $(( $(date +%s) - start )) s"

fail=0
check() { # description, command...
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then echo "  ok   $what"; else echo "  FAIL $what"; fail=1; fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/root"
dpkg-deb -e "$deb" "$work/control"
root=$work/root

echo "test-package: contents"
check "binary /usr/bin/hotline, executable" test -x "$root/usr/bin/hotline"
check "binary is stripped" sh -c "! file -L '$root/usr/bin/hotline' | grep -q 'with debug_info'"
for f in hotline.toml ivr.toml ivr-urgent.toml sla-urgent.toml; do
    check "/etc/hotline/$f shipped and a conffile" sh -c \
        "test -f '$root/etc/hotline/$f' && grep -qx '/etc/hotline/$f' '$work/control/conffiles'"
done
check "conffiles: exactly the four files" test "$(wc -l < "$work/control/conffiles")" -eq 4
want=$(find prompts -name '*.wav' | wc -l)
got=$(cd "$root/usr/share/hotline/prompts" && find . -name '*.wav' | wc -l)
check "every prompt ($want) under /usr/share/hotline/prompts (got $got)" test "$want" -eq "$got"
check "prompts keep their language folders" test -f "$root/usr/share/hotline/prompts/zh/greeting-hello.wav"
check "same prompt files as prompts/" diff -r -x '*.md' -x '*.sh' prompts "$root/usr/share/hotline/prompts"
unit=$root/usr/lib/systemd/system/hotline.service
check "systemd unit /usr/lib/systemd/system/hotline.service" test -f "$unit"
for line in Type=notify User=hotline StateDirectory=hotline ProtectSystem=strict PrivateTmp=yes \
    NoNewPrivileges=yes ReadWritePaths=/var/lib/hotline KillMode=mixed \
    'ExecReload=/bin/kill -HUP $MAINPID' 'ExecStart=/usr/bin/hotline --config /etc/hotline/hotline.toml run'; do
    check "unit: $line" grep -qxF "$line" "$unit"
done
check "depends on PostgreSQL's server" grep -E '^Depends:.*postgresql \| postgresql-1[5-7]' "$work/control/control"
check "depends on adduser and procps" grep -E '^Depends:.*adduser.*procps' "$work/control/control"
check "postinst creates the hotline system user" grep -q 'adduser --system' "$work/control/postinst"
check "postinst enables and starts the unit" sh -c \
    "grep -q 'deb-systemd-helper' '$work/control/postinst' && grep -q 'hotline.service' '$work/control/postinst'"
check "no #DEBHELPER# token left" sh -c "! grep -q '#DEBHELPER#' '$work/control/postinst' '$work/control/postrm'"
check "maintainer scripts are valid sh" sh -c "sh -n '$work/control/postinst' && sh -n '$work/control/postrm'"

if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart's binary exists: point it at the
    # extracted one (the only change).
    sed "s#/usr/bin/hotline#$root/usr/bin/hotline#g" "$unit" > "$work/hotline.service"
    check "systemd-analyze verify hotline.service" systemd-analyze verify "$work/hotline.service"
    systemd-analyze verify "$work/hotline.service" || true
else
    echo "  skip systemd-analyze verify (no systemd-analyze here)"
fi

echo "test-package: the packaged binary, from /"
version=$("$root/usr/bin/hotline" --version)
echo "       $version"
check "--version names the git revision" sh -c "echo '$version' | grep -q '(git '"
out=$(cd / && "$root/usr/bin/hotline" --config "$root/etc/hotline/hotline.toml" check-config 2>/dev/null || true)
echo "$out" | sed 's/^/       /'
check "packaged hotline.toml validates, its flow found beside it" sh -c \
    "echo '$out' | grep -q '^$root/etc/hotline/ivr.toml: call flow default-1+'"
out=$(cd / && "$root/usr/bin/hotline" --config "$root/etc/hotline/sla-urgent.toml" check-config 2>/dev/null || true)
check "packaged sla-urgent.toml validates with ivr-urgent.toml" sh -c \
    "echo '$out' | grep -q '^$root/etc/hotline/ivr-urgent.toml: call flow urgent-1+'"

if [ "$fail" -ne 0 ]; then echo "test-package: FAILED"; exit 1; fi
echo "test-package: all checks passed ($deb)"
