#!/bin/sh
# casekeep: before the package is removed (deb: remove, or upgrade; rpm: 0
# on removal, 1 on upgrade). On removal the agent's last heartbeat tells the
# server casekeep is being removed; on upgrade it only stops.
set -e
removing=no
case "$1" in
	remove|0) removing=yes ;;
	# rpm upgrade: the new package's %post has already restarted the
	# service; stopping it now would leave it stopped.
	1) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	if [ "$removing" = yes ]; then
		/usr/bin/casekeep service stop --reason uninstall >/dev/null 2>&1 || systemctl stop casekeep.service || true
	else
		systemctl stop casekeep.service || true
	fi
fi
if [ "$removing" = yes ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable casekeep.service >/dev/null 2>&1 || true
fi
exit 0
