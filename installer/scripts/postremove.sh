#!/bin/sh
# casekeep: after the package is removed (deb: remove, purge, upgrade...;
# rpm: 0 on removal, 1 on upgrade). The state (device keys, spool) stays
# unless the package is purged, so a reinstall is the same device.
set -e
case "$1" in
	remove|purge|0)
		# The drop-in the agent wrote for its policy's folders.
		rm -rf /run/systemd/system/casekeep.service.d ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/casekeep /var/lib/casekeep-status /etc/casekeep
fi
exit 0
