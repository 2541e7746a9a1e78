#!/bin/sh
# casekeep: pkgbuild's postinstall script on macOS. Creates the folders only
# root can write, and (re)loads the LaunchDaemon. To enroll, put
# CASEKEEP_SERVER and CASEKEEP_ENROLL_TOKEN in
# /Library/Application Support/casekeep/config/enroll.env (MDM can drop it).
set -e
base="/Library/Application Support/casekeep"
mkdir -p "$base/config" "$base/state"
chown root:wheel "$base" "$base/config" "$base/state"
chmod 0755 "$base" "$base/config"
chmod 0700 "$base/state"
if [ -f "$base/config/enroll.env" ]; then
	chown root:wheel "$base/config/enroll.env"
	chmod 0600 "$base/config/enroll.env"
fi
plist=/Library/LaunchDaemons/uk.casekeep.casekeep.plist
chown root:wheel "$plist"
chmod 0644 "$plist"
launchctl bootout system/uk.casekeep.casekeep 2>/dev/null || true
launchctl bootstrap system "$plist"
exit 0
